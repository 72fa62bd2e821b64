// ServiceEntries as services of the mesh: one service per host (hosts are taken as written,
// never resolved as short names), with the entry's ports, resolution, location, addresses and
// exportTo; and their endpoints: the listed ones, the pods a workloadSelector picks in the
// entry's namespace, or for DNS resolution without either, the host itself.
import type { Labels } from '../api/common.js';
import type { ServiceEntrySpec } from '../api/service-entry.js';
import type { Config } from './config-store.js';
import { labelsMatch } from './labels.js';
import type { MeshService } from './mesh-services.js';
import type { Endpoint, PodRecord } from './services.js';
import { visibilityOf } from './visibility.js';

export type ServiceEntryConfig = Config<ServiceEntrySpec>;

/** An endpoint of a mesh service; `ports` maps each service port name to the endpoint's port. */
export interface MeshEndpoint {
  address: string;
  ports: Record<string, number>;
  labels: Labels;
  ready: boolean;
  locality: string | undefined;
  network: string | undefined;
  weight: number | undefined;
  serviceAccount: string | undefined;
}

export function servicesFromServiceEntry(config: ServiceEntryConfig, defaultExportTo: readonly string[]): MeshService[] {
  const spec = config.spec;
  const exportTo = spec.exportTo ?? [];
  const visibility = visibilityOf(exportTo, config.namespace, defaultExportTo);
  const ports = (spec.ports ?? []).map((p) => ({ name: p.name, number: p.number, protocol: (p.protocol ?? 'UNKNOWN').toUpperCase(), targetPort: p.targetPort }));
  return (spec.hosts ?? []).map((hostname) => ({
    hostname,
    namespace: config.namespace,
    source: 'ServiceEntry' as const,
    name: config.name,
    ports,
    resolution: spec.resolution ?? 'NONE',
    location: spec.location ?? 'MESH_EXTERNAL',
    addresses: spec.addresses ?? [],
    exportTo,
    visibility,
    selector: spec.workloadSelector ? (spec.workloadSelector.labels ?? {}) : undefined,
    creationTimestamp: config.creationTimestamp,
    subjectAltNames: spec.subjectAltNames ?? [],
  }));
}

/** The endpoint port for a service port: the entry's own port map, else targetPort, else the port number. */
function endpointPorts(svc: MeshService, own: Record<string, number> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of svc.ports) {
    const mapped = own?.[p.name];
    out[p.name] = typeof mapped === 'number' && mapped > 0 ? mapped : typeof p.targetPort === 'number' && p.targetPort > 0 ? p.targetPort : p.number;
  }
  return out;
}

export function serviceEntryEndpoints(spec: ServiceEntrySpec, svc: MeshService, pods: readonly PodRecord[]): MeshEndpoint[] {
  const endpoints = spec.endpoints ?? [];
  if (endpoints.length > 0) {
    return endpoints.map((we) => ({
      address: we.address ?? '',
      ports: endpointPorts(svc, we.ports),
      labels: we.labels ?? {},
      ready: true,
      locality: we.locality,
      network: we.network,
      weight: we.weight,
      serviceAccount: we.serviceAccount,
    }));
  }
  if (svc.selector !== undefined) {
    const selector = svc.selector;
    return pods
      .filter((p) => p.namespace === svc.namespace && p.ip && labelsMatch(selector, p.labels))
      .map((p) => ({ address: p.ip, ports: endpointPorts(svc, undefined), labels: p.labels, ready: true, locality: undefined, network: undefined, weight: undefined, serviceAccount: p.serviceAccount }));
  }
  if ((svc.resolution === 'DNS' || svc.resolution === 'DNS_ROUND_ROBIN') && !svc.hostname.startsWith('*')) {
    return [{ address: svc.hostname, ports: endpointPorts(svc, undefined), labels: {}, ready: true, locality: undefined, network: undefined, weight: undefined, serviceAccount: undefined }];
  }
  return [];
}

/** Kubernetes endpoints (from EndpointSlices) in the same shape. */
export function kubernetesEndpoints(endpoints: readonly Endpoint[]): MeshEndpoint[] {
  return endpoints.map((e) => ({
    address: e.address,
    ports: { ...e.ports },
    labels: e.labels,
    ready: e.ready,
    locality: e.region || e.zone ? [e.region ?? '', e.zone ?? ''].join('/') : undefined,
    network: undefined,
    weight: undefined,
    serviceAccount: e.serviceAccount,
  }));
}
