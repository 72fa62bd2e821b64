// The ports of the proxy's own workload: every port of every Service of its namespace whose
// selector picks the proxy's labels, as the container port traffic arrives on (numeric
// targetPort, or the named port resolved through the proxy's own endpoint), with its protocol.
// A Sidecar with ingress listeners replaces them (Istio: the listeners, not the Services, then
// say what the workload accepts, and where the app listens: defaultEndpoint).
import type { ConnectionPoolSettings } from '../api/destination-rule.js';
import type { IstioIngressListener } from '../api/sidecar.js';
import { labelsMatch } from '../model/labels.js';
import { UNIX_ADDRESS_PREFIX } from '../model/sidecars.js';
import type { MeshService } from '../model/mesh-services.js';
import { endpointPort } from './endpoints.js';
import { proxyNamespace, visibleServices, type MeshView, type SidecarProxy } from './input.js';
import { clusterPolicy } from './traffic-policy.js';

export interface InboundPort {
  /** The container port. */
  port: number;
  /** Istio's protocol name of the Service port (the first Service declaring it wins). */
  protocol: string;
  /** The Service host and port that declared it (for a Sidecar ingress listener: none, and its port). */
  hostname: string;
  servicePort: number;
  /** Where the app listens when not on 127.0.0.1:<port>: a Sidecar ingress listener's defaultEndpoint. */
  endpoint?: InboundEndpoint;
  /** The Sidecar's connection pool for the port (its ingress listener's, else inboundConnectionPool). */
  pool?: ConnectionPoolSettings;
}

export type InboundEndpoint = { address: string; port: number } | { pipe: string };


/**
 * A defaultEndpoint as an address: `127.0.0.1:<port>` and `[::1]:<port>` as written; the
 * unspecified addresses (`0.0.0.0`, `[::]`, none) stand for the workload itself, which the proxy
 * reaches on loopback as it does every inbound port; `unix://<path>` a socket. Unset: the port.
 */
export function inboundEndpoint(defaultEndpoint: string | undefined, port: number): InboundEndpoint | undefined {
  if (!defaultEndpoint) return undefined;
  if (defaultEndpoint.startsWith(UNIX_ADDRESS_PREFIX)) return { pipe: defaultEndpoint.slice(UNIX_ADDRESS_PREFIX.length) };
  const colon = defaultEndpoint.lastIndexOf(':');
  const host = defaultEndpoint.slice(0, colon).replace(/^\[|\]$/g, '');
  const target = Number(defaultEndpoint.slice(colon + 1));
  const address = host === '::1' ? '::1' : '127.0.0.1';
  return address === '127.0.0.1' && target === port ? undefined : { address, port: target };
}

/** The inbound ports a Sidecar's ingress listeners declare. */
export function ingressListenerPorts(listeners: readonly IstioIngressListener[]): InboundPort[] {
  return listeners
    .map((l) => ({ port: l.port.number ?? 0, protocol: (l.port.protocol ?? 'TCP').toUpperCase(), hostname: '', servicePort: l.port.number ?? 0, endpoint: inboundEndpoint(l.defaultEndpoint, l.port.number ?? 0) }))
    .filter((p) => p.port > 0)
    .map((p) => (p.endpoint ? p : { port: p.port, protocol: p.protocol, hostname: p.hostname, servicePort: p.servicePort }))
    .sort((a, b) => a.port - b.port);
}

/** `services`: what the proxy sees (visibleServices), when already known. */
export function inboundPorts(mesh: MeshView, proxy: SidecarProxy, services: readonly MeshService[] = visibleServices(mesh, proxy)): InboundPort[] {
  const ns = proxyNamespace(proxy);
  const scope = mesh.sidecarScope(ns, proxy.labels);
  return portsOf(mesh, proxy, services, scope?.ingress ?? []).map((p) => {
    const pool = sidecarPool(p, scope?.ingress ?? [], scope?.inboundConnectionPool) ?? rulePool(mesh, p, ns);
    return pool ? { ...p, pool } : p;
  });
}

/**
 * Istio's InboundConnectionPoolForPort: the pool of the port's ingress listener, else the
 * Sidecar's inboundConnectionPool. It replaces the DestinationRule's whole.
 */
function sidecarPool(p: InboundPort, ingress: readonly IstioIngressListener[], fallback: ConnectionPoolSettings | undefined): ConnectionPoolSettings | undefined {
  return ingress.find((l) => l.port.number === p.port && l.connectionPool)?.connectionPool ?? fallback;
}

/**
 * The connection pool of the DestinationRule for the port's service, as the workload's own
 * namespace sees it, at the service port's level; inbound, Istio reads only a rule without a
 * workload selector (selectors pick a client's rule, outbound).
 */
function rulePool(mesh: MeshView, p: InboundPort, ns: string): ConnectionPoolSettings | undefined {
  if (!p.hostname) return undefined;
  const rule = mesh.destinationRulesFor(p.hostname, ns).find((r) => r.workloadSelector === undefined);
  return rule ? clusterPolicy(rule.spec, p.servicePort).connectionPool : undefined;
}

function portsOf(mesh: MeshView, proxy: SidecarProxy, services: readonly MeshService[], ingress: readonly IstioIngressListener[]): InboundPort[] {
  const ns = proxyNamespace(proxy);
  if (ingress.length > 0) return ingressListenerPorts(ingress);
  const ips = new Set([proxy.ip, ...(proxy.ips ?? [])].filter((x): x is string => !!x));
  const byPort = new Map<number, InboundPort>();
  const labels = { ...proxy.labels };
  for (const svc of services) {
    if (svc.namespace !== ns || svc.source !== 'Kubernetes' || !svc.selector || Object.keys(svc.selector).length === 0) continue;
    if (!labelsMatch(svc.selector, labels)) continue;
    const own = mesh.endpoints(svc).find((e) => ips.has(e.address));
    for (const p of svc.ports) {
      if (p.protocol === 'UDP') continue;
      const port = typeof p.targetPort === 'number' && p.targetPort > 0 ? p.targetPort : own ? endpointPort(own, p) : typeof p.targetPort === 'string' ? undefined : p.number;
      if (port === undefined || byPort.has(port)) continue;
      byPort.set(port, { port, protocol: p.protocol, hostname: svc.hostname, servicePort: p.number });
    }
  }
  return [...byPort.values()].sort((a, b) => a.port - b.port);
}
