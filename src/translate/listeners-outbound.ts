// Outbound listeners, as Istio's sidecar: `virtualOutbound` on 0.0.0.0:15001 takes every
// connection iptables redirects and hands it to the listener of its original destination port
// (`use_original_dst`); those per-port listeners `0.0.0.0_<port>` are not bound. An HTTP port
// routes through the HTTP connection manager with RDS `<port>`; a TCP service port matches the
// service's ClusterIP and proxies to its cluster. What matches nothing goes to
// PassthroughCluster (ALLOW_ANY) or BlackHoleCluster (REGISTRY_ONLY).
import type { MeshService, MeshServicePort } from '../model/mesh-services.js';
import type { FilterChain } from '../xds/generated/envoy/config/listener/v3/FilterChain.js';
import type { Listener } from '../xds/types.js';
import { httpConnectionManagerFilter, tcpProxyFilter } from './filters.js';
import { visibleServices, type MeshView, type OutboundPolicy, type SidecarOptions, type SidecarProxy } from './input.js';
import { BLACKHOLE_CLUSTER, outboundClusterName, outboundListenerName, outboundRouteName, PASSTHROUGH_CLUSTER, VIRTUAL_OUTBOUND_LISTENER } from './names.js';
import { listenerProtocol } from './protocol.js';
import { tcpRouteTargets } from './tcp-routes.js';

export function fallbackCluster(policy: OutboundPolicy): string {
  return policy === 'REGISTRY_ONLY' ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER;
}

function fallbackChain(policy: OutboundPolicy): FilterChain {
  const cluster = fallbackCluster(policy);
  return { name: cluster === PASSTHROUGH_CLUSTER ? 'PassthroughFilterChain' : 'BlackHoleFilterChain', filters: [tcpProxyFilter(cluster, cluster)] };
}

export function virtualOutboundListener(opts: Pick<SidecarOptions, 'outboundPort' | 'outboundPolicy'>): Listener {
  return {
    name: VIRTUAL_OUTBOUND_LISTENER,
    address: { socket_address: { address: '0.0.0.0', port_value: opts.outboundPort } },
    use_original_dst: { value: true },
    traffic_direction: 'OUTBOUND',
    default_filter_chain: fallbackChain(opts.outboundPolicy),
  };
}

/** The service ports of the visible services, by port number. */
export function servicePortsByNumber(mesh: MeshView, proxy: SidecarProxy): Map<number, Array<{ service: MeshService; port: MeshServicePort }>> {
  const out = new Map<number, Array<{ service: MeshService; port: MeshServicePort }>>();
  for (const service of visibleServices(mesh, proxy)) {
    if (service.hostname.startsWith('*')) continue;
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
export function outboundPortListener(mesh: MeshView, proxy: SidecarProxy, portNumber: number, entries: ReadonlyArray<{ service: MeshService; port: MeshServicePort }>, policy: OutboundPolicy): Listener {
  const name = outboundListenerName(portNumber);
  const chains: FilterChain[] = [];
  const seen = new Set<string>();
  let http = false;
  for (const { service, port } of entries) {
    if (listenerProtocol(port.protocol) === 'http') {
      http = true;
      continue;
    }
    const ranges = service.addresses.map(cidr).filter((r): r is NonNullable<ReturnType<typeof cidr>> => r !== undefined && !seen.has(`${r.address_prefix}/${r.prefix_len.value}`));
    if (ranges.length === 0) continue;
    for (const r of ranges) seen.add(`${r.address_prefix}/${r.prefix_len.value}`);
    const targets = tcpRouteTargets(mesh, proxy, service, port.number) ?? outboundClusterName(port.number, service.hostname);
    chains.push({
      name: `${outboundClusterName(port.number, service.hostname)}`,
      filter_chain_match: { prefix_ranges: ranges },
      filters: [tcpProxyFilter(outboundClusterName(port.number, service.hostname), targets)],
    });
  }
  const statPrefix = `outbound_0.0.0.0_${portNumber}`;
  const fallback: FilterChain = http ? { name: `${name}_http`, filters: [httpConnectionManagerFilter(statPrefix, outboundRouteName(portNumber), 'outbound')] } : fallbackChain(policy);
  return {
    name,
    address: { socket_address: { address: '0.0.0.0', port_value: portNumber } },
    bind_to_port: { value: false },
    traffic_direction: 'OUTBOUND',
    filter_chains: chains,
    default_filter_chain: fallback,
  };
}

export function outboundListeners(mesh: MeshView, proxy: SidecarProxy, opts: Pick<SidecarOptions, 'outboundPort' | 'outboundPolicy'>): Listener[] {
  const out: Listener[] = [virtualOutboundListener(opts)];
  const byPort = [...servicePortsByNumber(mesh, proxy)].sort((a, b) => a[0] - b[0]);
  for (const [portNumber, entries] of byPort) {
    if (portNumber === opts.outboundPort) continue;
    out.push(outboundPortListener(mesh, proxy, portNumber, entries, opts.outboundPolicy));
  }
  return out;
}

/** The port numbers that get an HTTP route configuration. */
export function httpPorts(mesh: MeshView, proxy: SidecarProxy): number[] {
  const out: number[] = [];
  for (const [n, entries] of servicePortsByNumber(mesh, proxy)) if (entries.some((e) => listenerProtocol(e.port.protocol) === 'http')) out.push(n);
  return out.sort((a, b) => a - b);
}
