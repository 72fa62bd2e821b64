// TLS servers in PASSTHROUGH mode: the gateway does not terminate TLS; it reads the SNI of the
// ClientHello and forwards the bytes, by the `tls` routes of the VirtualServices bound to the
// Gateway (match sniHosts), to their destinations. The client sees the upstream's certificate.
import type { FilterChain } from '../xds/generated/envoy/config/listener/v3/FilterChain.js';
import type { Listener } from '../xds/types.js';
import { resolveGatewayName } from '../model/hosts.js';
import { destinationCluster } from './destinations.js';
import { tcpProxyFilter, tlsInspectorListenerFilter } from './filters.js';
import type { GatewayMeshView } from './gateway.js';
import { gatewayListenerName, gatewaysFor, listenPort } from './gateway.js';
import type { SidecarProxy } from './input.js';

const stripNamespace = (h: string): string => (h.includes('/') ? h.slice(h.indexOf('/') + 1) : h);
const sniMatches = (sni: string, serverHost: string): boolean =>
  serverHost === '*' || sni === serverHost || (serverHost.startsWith('*.') && sni.endsWith(serverHost.slice(1)));

export function gatewayPassthroughListeners(mesh: GatewayMeshView, proxy: SidecarProxy, taken: ReadonlySet<number>): Listener[] {
  const ns = proxy.namespace ?? 'default';
  const chainsByPort = new Map<number, FilterChain[]>();
  const seen = new Map<number, Set<string>>(); // SNI names already claimed on a port
  for (const gw of gatewaysFor(mesh, proxy)) {
    const ref = `${gw.namespace}/${gw.name}`;
    for (const server of gw.spec.servers ?? []) {
      if ((server.port?.protocol ?? '').toUpperCase() !== 'TLS' || server.tls?.mode !== 'PASSTHROUGH' || server.port?.number === undefined) continue;
      const port = server.port.number;
      if (taken.has(port)) continue;
      const serverHosts = (server.hosts ?? []).map(stripNamespace);
      for (const vs of mesh.virtualServices()) {
        if (!(vs.config.spec.gateways ?? []).some((g) => resolveGatewayName(g, vs.config.namespace) === ref)) continue;
        for (const [i, tls] of (vs.config.spec.tls ?? []).entries()) {
          const snis = tls.match
            .filter((m) => m.port === undefined || m.port === port)
            .flatMap((m) => m.sniHosts)
            .filter((sni) => serverHosts.some((h) => sniMatches(sni, h)));
          const claimed = seen.get(port) ?? new Set<string>();
          const fresh = snis.filter((s) => !claimed.has(s));
          if (fresh.length === 0 || !tls.route?.length) continue;
          for (const s of fresh) claimed.add(s);
          seen.set(port, claimed);
          const targets = tls.route.map((r) => ({ name: destinationCluster(mesh, ns, vs.config.namespace, r.destination, port), weight: r.weight ?? Math.floor(100 / tls.route!.length) }));
          const chains = chainsByPort.get(port) ?? [];
          chains.push({
            name: `${vs.config.namespace}/${vs.config.name}/tls[${i}]`,
            filter_chain_match: { server_names: fresh },
            filters: [tcpProxyFilter(`passthrough_${port}`, targets.length === 1 ? targets[0].name : targets)],
          });
          chainsByPort.set(port, chains);
        }
      }
    }
  }
  return [...chainsByPort].map(([port, chains]) => {
    const bind = listenPort(mesh, proxy, port);
    return {
      name: gatewayListenerName(bind),
      address: { socket_address: { address: '0.0.0.0', port_value: bind } },
      traffic_direction: 'OUTBOUND',
      listener_filters: [tlsInspectorListenerFilter()],
      filter_chains: chains,
    };
  });
}
