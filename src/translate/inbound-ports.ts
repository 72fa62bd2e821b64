// The ports of the proxy's own workload: every port of every Service of its namespace whose
// selector picks the proxy's labels, as the container port traffic arrives on (numeric
// targetPort, or the named port resolved through the proxy's own endpoint), with its protocol.
// A Sidecar with ingress listeners replaces them (Istio: the listeners, not the Services, then
// say what the workload accepts, and where the app listens: defaultEndpoint).
import { BlockList, isIP, isIPv6 } from 'node:net';
import type { ConnectionPoolSettings } from '../api/destination-rule.js';
import type { IstioIngressListener } from '../api/sidecar.js';
import { labelsMatch } from '../model/labels.js';
import { bindsToPort, sidecarCannotBind, UNIX_ADDRESS_PREFIX } from '../model/sidecars.js';
import type { MeshService } from '../model/mesh-services.js';
import { endpointPort } from './endpoints.js';
import { captured, proxyNamespace, visibleServices, type MeshView, type SidecarProxy } from './input.js';
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
  /**
   * A Sidecar ingress listener with captureMode NONE: the address Envoy binds the port on, a
   * listener of its own for traffic iptables does not capture, rather than a chain of virtualInbound.
   */
  bind?: string;
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

/**
 * The inbound ports a Sidecar's ingress listeners declare. `capture`: iptables captures the pod's
 * traffic (interceptionMode other than NONE). `proxyIps`: the proxy's addresses, the
 * first global unicast one is where a bound listener binds when it names no address (Istio's
 * getSidecarInboundBindIP), else the wildcard (`::` for a proxy with IPv6 addresses alone). Such a listener on a port the sidecar
 * cannot bind is left out, as Istio does (CanBindToPort); bound anyway, Envoy would refuse the
 * proxy's whole listener update.
 */
export function ingressListenerPorts(listeners: readonly IstioIngressListener[], proxyIps: readonly string[] = [], capture = true): InboundPort[] {
  const ports: InboundPort[] = [];
  for (const l of listeners) {
    const port = l.port.number ?? 0;
    const bound = bindsToPort(l.captureMode, capture, 'ingress');
    if (port <= 0 || (bound && sidecarCannotBind(port))) continue;
    const p: InboundPort = { port, protocol: (l.port.protocol ?? 'TCP').toUpperCase(), hostname: '', servicePort: port };
    const endpoint = inboundEndpoint(l.defaultEndpoint, port);
    if (endpoint) p.endpoint = endpoint;
    if (bound) p.bind = l.bind || (proxyIps.find(isGlobalUnicast) ?? wildcardFor(proxyIps));
    ports.push(p);
  }
  return ports.sort((a, b) => a.port - b.port);
}

const NOT_UNICAST = new BlockList();
for (const [net, prefix] of [['127.0.0.0', 8], ['169.254.0.0', 16], ['224.0.0.0', 4]] as const) NOT_UNICAST.addSubnet(net, prefix, 'ipv4');
NOT_UNICAST.addAddress('0.0.0.0', 'ipv4');
NOT_UNICAST.addAddress('255.255.255.255', 'ipv4');
for (const [net, prefix] of [['::', 127], ['fe80::', 10], ['ff00::', 8]] as const) NOT_UNICAST.addSubnet(net, prefix, 'ipv6');

/** Go's net.IP.IsGlobalUnicast: an IP address, not unspecified, loopback, link-local, multicast or broadcast. */
export function isGlobalUnicast(ip: string): boolean {
  const family = isIP(ip);
  return family !== 0 && !NOT_UNICAST.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

/** Istio's getActualWildcardAndLocalHost: IPv4's unless the proxy has IPv6 addresses alone. */
function wildcardFor(proxyIps: readonly string[]): string {
  const ips = proxyIps.filter((ip) => isIP(ip) !== 0);
  return ips.length > 0 && ips.every(isIPv6) ? '::' : '0.0.0.0';
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
  const ips = new Set([proxy.ip, ...(proxy.ips ?? [])].filter((x): x is string => !!x));
  if (ingress.length > 0) return ingressListenerPorts(ingress, [...ips], captured(proxy));
  // Without capture and without ingress listeners nothing would reach the proxy: Istio builds no
  // inbound side then (the app's ports are its own).
  if (!captured(proxy)) return [];
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
