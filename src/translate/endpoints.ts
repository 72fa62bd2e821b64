// ClusterLoadAssignments: the ready endpoints of a service port, grouped by locality
// (`region/zone` from the EndpointSlice), for a subset only those whose pod labels match.
import type { Labels } from '../api/common.js';
import type { MeshService, MeshServicePort } from '../model/mesh-services.js';
import type { MeshEndpoint } from '../model/service-entries.js';
import { labelsMatch } from '../model/labels.js';
import type { ClusterLoadAssignment } from '../xds/types.js';
import type { LocalityLbEndpoints } from '../xds/generated/envoy/config/endpoint/v3/LocalityLbEndpoints.js';
import { visibleDestinations, type MeshView, type SidecarProxy } from './input.js';
import { outboundClusterName } from './names.js';
import { clusterPolicy } from './traffic-policy.js';
import { endpointTlsMetadata } from './mtls.js';

/** The port an endpoint serves a service port on: its own port of that name, else a numeric targetPort. */
export function endpointPort(e: MeshEndpoint, port: MeshServicePort): number | undefined {
  const own = e.ports[port.name];
  if (typeof own === 'number' && own > 0) return own;
  return typeof port.targetPort === 'number' && port.targetPort > 0 ? port.targetPort : undefined;
}

function locality(l: string | undefined): { region: string; zone: string; sub_zone: string } | undefined {
  if (!l) return undefined;
  const [region = '', zone = '', subZone = ''] = l.split('/');
  return { region, zone, sub_zone: subZone };
}

/** The load assignment of `clusterName` from endpoints (ready ones, matching `subsetLabels` if given). */
export function loadAssignment(clusterName: string, endpoints: readonly MeshEndpoint[], port: MeshServicePort, subsetLabels?: Labels): ClusterLoadAssignment {
  const groups = new Map<string, LocalityLbEndpoints>();
  for (const e of endpoints) {
    if (!e.ready || !e.address) continue;
    if (subsetLabels && !labelsMatch(subsetLabels, e.labels)) continue;
    const p = endpointPort(e, port);
    if (p === undefined) continue;
    const key = e.locality ?? '';
    let g = groups.get(key);
    if (!g) {
      const loc = locality(e.locality);
      g = { ...(loc ? { locality: loc } : {}), lb_endpoints: [] };
      groups.set(key, g);
    }
    const metadata = endpointTlsMetadata(e.labels);
    g.lb_endpoints?.push({
      endpoint: { address: { socket_address: { address: e.address, port_value: p } } },
      ...(metadata ? { metadata } : {}),
      ...(e.weight ? { load_balancing_weight: { value: e.weight } } : {}),
    });
  }
  return { cluster_name: clusterName, endpoints: [...groups.values()] };
}

export function endpointsFor(mesh: MeshView, service: MeshService, port: MeshServicePort, subsetLabels: Labels | undefined, clusterName: string): ClusterLoadAssignment {
  return loadAssignment(clusterName, mesh.endpoints(service), port, subsetLabels);
}

export interface ProxyLocality {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

/**
 * Istio's locality failover (on when the cluster has outlier detection and localityLbSetting
 * does not turn it off): endpoints in the proxy's region/zone/sub-zone first (priority 0), then
 * its zone, then its region, then the rest; priorities are contiguous from 0 as Envoy expects.
 */
export function withLocalityFailover(cla: ClusterLoadAssignment, proxy: ProxyLocality | undefined): ClusterLoadAssignment {
  if (!proxy || !proxy.region) return cla;
  const level = (g: LocalityLbEndpoints): number => {
    const l = g.locality;
    if (!l || l.region !== proxy.region) return 3;
    if (l.zone !== proxy.zone) return 2;
    return l.sub_zone === proxy.subZone ? 0 : 1;
  };
  const groups = cla.endpoints ?? [];
  const levels = [...new Set(groups.map(level))].sort((a, b) => a - b);
  return { ...cla, endpoints: groups.map((g) => ({ ...g, priority: levels.indexOf(level(g)) })) };
}

/** The ClusterLoadAssignments of the proxy's EDS clusters. */
export function sidecarEndpoints(mesh: MeshView, proxy: SidecarProxy, visible = visibleDestinations(mesh, proxy)): ClusterLoadAssignment[] {
  const out: ClusterLoadAssignment[] = [];
  for (const { service: svc, rule: dr } of visible) {
    if (svc.hostname.startsWith('*') || svc.resolution === 'NONE' || svc.resolution === 'DNS' || svc.resolution === 'DNS_ROUND_ROBIN') continue;
    for (const port of svc.ports) {
      if (port.protocol === 'UDP') continue;
      // Locality failover as Istio: only where outlier detection can move traffic away.
      const failover = (subset?: string) => {
        const p = clusterPolicy(dr?.spec, port.number, subset);
        return p.outlierDetection !== undefined && p.loadBalancer?.localityLbSetting?.enabled !== false;
      };
      const assign = (labels: Record<string, string> | undefined, subset?: string) => {
        const cla = endpointsFor(mesh, svc, port, labels, outboundClusterName(port.number, svc.hostname, subset));
        return failover(subset) ? withLocalityFailover(cla, proxy.locality) : cla;
      };
      out.push(assign(undefined));
      for (const s of dr?.spec.subsets ?? []) out.push(assign(s.labels ?? {}, s.name));
    }
  }
  return out;
}
