// TLS servers in PASSTHROUGH mode: the gateway does not terminate TLS; it reads the SNI of the
// ClientHello and forwards the bytes, by the `tls` routes of the VirtualServices bound to the
// Gateway (match sniHosts), to their destinations. The client sees the upstream's certificate.
import type { FilterChain } from '../xds/generated/envoy/config/listener/v3/FilterChain.js';
import type { Listener } from '../xds/types.js';
import { parseServerHost } from '../model/hosts.js';
import { orderedFor } from '../model/virtual-services.js';
import { tcpTargets } from './cluster-refs.js';
import { once } from './resources.js';
import { tcpProxyFilter, tlsInspectorListenerFilter } from './filters.js';
import { gatewayListenerName, gatewaysFor, listenPorts, type GatewayMeshView } from './gateway-proxy.js';
import type { SidecarProxy } from './input.js';
import { NO_SECURITY, type WorkloadSecurity } from './workload-security.js';
import { NO_ACCESS_LOGS, type ListenerAccessLogs } from './access-log.js';

const sniMatches = (sni: string, serverHost: string): boolean =>
  serverHost === '*' || sni === serverHost || (serverHost.startsWith('*.') && sni.endsWith(serverHost.slice(1)));

export function gatewayPassthroughListeners(
  mesh: GatewayMeshView,
  proxy: SidecarProxy,
  taken: ReadonlySet<number>,
  gateways = gatewaysFor(mesh, proxy),
  bind = listenPorts(mesh, proxy),
  security: WorkloadSecurity = NO_SECURITY,
  logs: ListenerAccessLogs = NO_ACCESS_LOGS,
): Listener[] {
  const ns = proxy.namespace ?? 'default';
  const chainsByPort = new Map<number, FilterChain[]>();
  const seen = new Map<number, Set<string>>(); // SNI names already claimed on a port
  for (const gw of gateways) {
    const ref = `${gw.namespace}/${gw.name}`;
    // The VirtualServices bound to this Gateway and visible from the proxy's namespace, in Istio's order.
    const bound = once(() => orderedFor(mesh.virtualServices(), ref, ns));
    for (const server of gw.spec.servers ?? []) {
      if ((server.port?.protocol ?? '').toUpperCase() !== 'TLS' || server.tls?.mode !== 'PASSTHROUGH' || server.port?.number === undefined) continue;
      const port = server.port.number;
      if (taken.has(port)) continue;
      const serverHosts = (server.hosts ?? []).map((h) => parseServerHost(h, gw.namespace).host);
      for (const vs of bound()) {
        for (const tls of mesh.l4Routes(vs).tls) {
          const snis = tls.matches
            .filter((m) => (m.port === undefined || m.port === port) && (!m.gateways?.length || m.gateways.includes(ref)))
            .flatMap((m) => m.sniHosts)
            .filter((sni) => serverHosts.some((h) => sniMatches(sni, h)));
          const claimed = seen.get(port) ?? new Set<string>();
          const fresh = snis.filter((s) => !claimed.has(s));
          const targets = tcpTargets(mesh, ns, tls.targets, port);
          if (fresh.length === 0 || !targets) continue;
          for (const s of fresh) claimed.add(s);
          seen.set(port, claimed);
          const chains = chainsByPort.get(port) ?? [];
          chains.push({
            name: `${vs.config.namespace}/${vs.config.name}/tls[${tls.index}]`,
            filter_chain_match: { server_names: fresh },
            filters: [...security.tcp, tcpProxyFilter(`passthrough_${port}`, targets, logs)],
          });
          chainsByPort.set(port, chains);
        }
      }
    }
  }
  return [...chainsByPort].map(([port, chains]) => {
    const bound = bind(port);
    return {
      name: gatewayListenerName(bound),
      address: { socket_address: { address: '0.0.0.0', port_value: bound } },
      traffic_direction: 'OUTBOUND',
      listener_filters: [tlsInspectorListenerFilter()],
      filter_chains: chains,
    };
  });
}
