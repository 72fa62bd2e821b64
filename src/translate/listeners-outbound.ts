// Outbound listeners, as Istio's sidecar: `virtualOutbound` on 0.0.0.0:15001 takes every
// connection iptables redirects and hands it to the listener of its original destination port
// (`use_original_dst`); those per-port listeners `0.0.0.0_<port>` are not bound. An HTTP port
// routes through the HTTP connection manager with RDS `<port>`; a TCP service port matches the
// service's ClusterIP and proxies to its cluster. What matches nothing goes to
// PassthroughCluster (ALLOW_ANY), the egress proxy's cluster (ALLOW_ANY with a Sidecar's
// egressProxy) or BlackHoleCluster (REGISTRY_ONLY).
import type { MeshService, MeshServicePort } from '../model/mesh-services.js';
import type { FilterChain } from '../xds/generated/envoy/config/listener/v3/FilterChain.js';
import type { Listener } from '../xds/types.js';
import { listenerAccessLogs, NO_ACCESS_LOGS, type ListenerAccessLogs } from './access-log.js';
import { httpConnectionManagerFilter, tcpProxyFilter, tlsInspectorListenerFilter } from './filters.js';
import { UNIX_ADDRESS_PREFIX } from '../model/sidecars.js';
import { captured, proxyNamespace, visibleServices, type MeshView, type PortBind, type SidecarOptions, type SidecarProxy } from './input.js';
import { BLACKHOLE_CLUSTER, outboundClusterName, outboundListenerName, outboundRouteName, PASSTHROUGH_CLUSTER, VIRTUAL_OUTBOUND_LISTENER } from './names.js';
import { listenerProtocol } from '../model/protocol.js';
import { tcpRouteTargets } from './tcp-routes.js';
import { isTlsProtocol, tlsRoutes } from './tls-routes.js';

/** Where what matches no service goes (Istio's outboundTrafficPolicy): a cluster name. */
export function fallbackCluster(opts: Pick<SidecarOptions, 'outboundPolicy' | 'egressCluster'>): string {
  if (opts.outboundPolicy === 'REGISTRY_ONLY') return BLACKHOLE_CLUSTER;
  return opts.egressCluster ?? PASSTHROUGH_CLUSTER;
}

function fallbackChain(cluster: string, logs: ListenerAccessLogs): FilterChain {
  return { name: cluster === BLACKHOLE_CLUSTER ? 'BlackHoleFilterChain' : 'PassthroughFilterChain', filters: [tcpProxyFilter(cluster, cluster, logs)] };
}

export function virtualOutboundListener(opts: Pick<SidecarOptions, 'outboundPort' | 'outboundPolicy' | 'egressCluster'>, logs: ListenerAccessLogs = NO_ACCESS_LOGS): Listener {
  return {
    name: VIRTUAL_OUTBOUND_LISTENER,
    address: { socket_address: { address: '0.0.0.0', port_value: opts.outboundPort } },
    use_original_dst: { value: true },
    traffic_direction: 'OUTBOUND',
    default_filter_chain: fallbackChain(fallbackCluster(opts), logs),
  };
}

/** The service ports of the visible services, by port number. */
export function servicePortsByNumber(mesh: MeshView, proxy: SidecarProxy, services = visibleServices(mesh, proxy)): Map<number, Array<{ service: MeshService; port: MeshServicePort }>> {
  const out = new Map<number, Array<{ service: MeshService; port: MeshServicePort }>>();
  for (const service of services) {
    if (service.hostname.startsWith('*') && service.resolution !== 'NONE') continue;
    for (const port of service.ports) {
      if (port.protocol === 'UDP') continue;
      const list = out.get(port.number) ?? [];
      list.push({ service, port });
      out.set(port.number, list);
    }
  }
  return out;
}

function cidr(address: string): { address_prefix: string; prefix_len: { value: number } } | undefined {
  const slash = address.indexOf('/');
  const ip = slash < 0 ? address : address.slice(0, slash);
  const v6 = ip.includes(':');
  const len = slash < 0 ? (v6 ? 128 : 32) : Number(address.slice(slash + 1));
  return Number.isInteger(len) ? { address_prefix: ip, prefix_len: { value: len } } : undefined;
}

/** `0.0.0.0_<port>` for one port: TCP services by destination address, HTTP through RDS, else the fallback. */
export function outboundPortListener(
  mesh: MeshView,
  proxy: SidecarProxy,
  portNumber: number,
  entries: ReadonlyArray<{ service: MeshService; port: MeshServicePort }>,
  /** What matches no service goes to this cluster (fallbackCluster). */
  fallback: string,
  logs: ListenerAccessLogs = NO_ACCESS_LOGS,
  /** The port's egress listener's own address: the listener is `<address>_<port>` and its services are not told apart by address. */
  bind?: PortBind,
): Listener {
  const name = bind ? `${bind.address}_${portNumber}` : outboundListenerName(portNumber);
  const chains: FilterChain[] = [];
  let http = false;
  const chainKeys = new Set<string>();
  const addChain = (chainName: string, ranges: ReturnType<typeof cidr>[], serverNames: string[], statPrefix: string, targets: string | Array<{ name: string; weight: number }>): void => {
    const rs = ranges.filter((r): r is NonNullable<ReturnType<typeof cidr>> => r !== undefined);
    const key = `${rs.map((r) => `${r.address_prefix}/${r.prefix_len.value}`).sort().join(',')}|${[...serverNames].sort().join(',')}`;
    if (chainKeys.has(key)) return;
    chainKeys.add(key);
    let unique = serverNames.length > 0 ? `${chainName}|${[...serverNames].sort().join(',')}` : chainName;
    if (chains.some((c) => c.name === unique)) unique = `${unique}#${chains.length}`;
    chains.push({
      name: unique,
      filter_chain_match: { ...(rs.length > 0 ? { prefix_ranges: rs } : {}), ...(serverNames.length > 0 ? { server_names: serverNames } : {}) },
      filters: [tcpProxyFilter(statPrefix, targets, logs)],
    });
  };
  for (const { service, port } of entries) {
    if (listenerProtocol(port.protocol) === 'http') {
      http = true;
      continue;
    }
    const cluster = outboundClusterName(port.number, service.hostname);
    // A listener of its own address serves whatever reaches it: no match on the service's address.
    const ranges = bind ? [] : service.addresses.map(cidr);
    if (isTlsProtocol(port.protocol)) {
      for (const r of tlsRoutes(mesh, proxy, service, port.number)) {
        addChain(cluster, r.subnets.length > 0 ? r.subnets.map(cidr) : ranges, r.serverNames, cluster, r.targets);
      }
      // Without an address, a TLS service is told apart by its SNI (egress to external hosts).
      addChain(cluster, ranges, ranges.length > 0 ? [] : [service.hostname], cluster, tcpRouteTargets(mesh, proxy, service, port.number) ?? cluster);
      continue;
    }
    if (ranges.length === 0 && !bind) continue;
    addChain(cluster, ranges, [], cluster, tcpRouteTargets(mesh, proxy, service, port.number) ?? cluster);
  }
  const statPrefix = `outbound_${name}`;
  const unmatched: FilterChain = http ? { name: `${name}_http`, filters: [httpConnectionManagerFilter(statPrefix, outboundRouteName(portNumber), 'outbound', [], logs)] } : fallbackChain(fallback, logs);
  return {
    name,
    address: { socket_address: { address: bind?.address ?? '0.0.0.0', port_value: portNumber } },
    bind_to_port: { value: bind?.bindToPort ?? false },
    traffic_direction: 'OUTBOUND',
    // SNI matching needs the TLS inspector; a server-first protocol on the port must not wait for it.
    ...(chains.some((c) => (c.filter_chain_match?.server_names ?? []).length > 0)
      ? { listener_filters: [tlsInspectorListenerFilter()], listener_filters_timeout: { seconds: 0, nanos: 100_000_000 }, continue_on_listener_filters_timeout: true }
      : {}),
    filter_chains: chains,
    default_filter_chain: unmatched,
  };
}

export function outboundListeners(
  mesh: MeshView,
  proxy: SidecarProxy,
  opts: Pick<SidecarOptions, 'outboundPort' | 'outboundPolicy' | 'egressCluster'>,
  ports = servicePortsByNumber(mesh, proxy),
  bindOf: (port: number) => PortBind | undefined = () => undefined,
  /** The Unix domain sockets of egress listeners served (`unix://…`). */
  sockets: readonly string[] = [],
): Listener[] {
  // The workload is the client here (Telemetry's CLIENT mode).
  const logs = listenerAccessLogs(mesh.accessLogsFor(proxyNamespace(proxy), { ...proxy.labels }, 'CLIENT'));
  // Without capture nothing reaches virtualOutbound or a listener not bound to its port: the app
  // calls the bound ones (Istio builds neither for interceptionMode NONE).
  const capture = captured(proxy);
  const out: Listener[] = capture ? [virtualOutboundListener(opts, logs)] : [];
  const fallback = fallbackCluster(opts);
  for (const [portNumber, entries] of [...ports].sort((a, b) => a[0] - b[0])) {
    if (portNumber === opts.outboundPort) continue;
    const bind = bindOf(portNumber);
    if (!capture && !bind?.bindToPort) continue;
    out.push(outboundPortListener(mesh, proxy, portNumber, entries, fallback, logs, bind));
  }
  for (const socket of sockets) out.push(outboundSocketListener(socket, logs));
  return out;
}

/**
 * `unix://<path>_0`, an egress listener on a Unix domain socket (HTTP): the app connects to the
 * socket (`@name`: the abstract namespace) and is routed by Host over RDS `unix://<path>`.
 */
function outboundSocketListener(bind: string, logs: ListenerAccessLogs): Listener {
  const name = `${bind}_0`;
  return {
    name,
    address: { pipe: { path: bind.slice(UNIX_ADDRESS_PREFIX.length) } },
    traffic_direction: 'OUTBOUND',
    // A stat prefix of the path's characters, not its slashes and colons (Envoy's stat names are dotted).
    filter_chains: [{ name: `${name}_http`, filters: [httpConnectionManagerFilter(`outbound_uds${name.slice(UNIX_ADDRESS_PREFIX.length).replace(/[^A-Za-z0-9_-]/g, '_')}`, bind, 'outbound', [], logs)] }],
  };
}
