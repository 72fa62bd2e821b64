// VirtualService TLS routes for a sidecar: on a TLS or HTTPS service port, each applicable
// `tls` match (sniHosts, with port, sourceLabels, sourceNamespace and gateways decided here)
// becomes a filter chain matched by SNI that proxies to the route's weighted destinations.
import type { MeshService } from '../model/mesh-services.js';
import { tcpTargets } from './cluster-refs.js';
import { proxyNamespace, type MeshView, type SidecarProxy } from './input.js';
import { sourceMatches } from './source-match.js';

export interface SniRoute {
  serverNames: string[];
  /** CIDRs the match also requires (destinationSubnets), if any. */
  subnets: string[];
  targets: string | Array<{ name: string; weight: number }>;
}

export function isTlsProtocol(istioProtocol: string): boolean {
  const p = istioProtocol.toUpperCase();
  return p === 'TLS' || p === 'HTTPS';
}

export function tlsRoutes(mesh: MeshView, proxy: SidecarProxy, service: MeshService, port: number): SniRoute[] {
  const ns = proxyNamespace(proxy);
  const vs = mesh.sidecarVirtualServiceFor(service.hostname, ns, proxy.labels);
  if (!vs) return [];
  const out: SniRoute[] = [];
  const seen = new Set<string>();
  for (const r of mesh.l4Routes(vs).tls) {
    const targets = tcpTargets(mesh, ns, r.targets, port);
    if (!targets) continue;
    for (const m of r.matches) {
      if (!sourceMatches(m, proxy, port) || (m.sniHosts ?? []).length === 0) continue;
      const serverNames = [...m.sniHosts].sort();
      const subnets = [...(m.destinationSubnets ?? [])].sort();
      const key = `${serverNames.join(',')}|${subnets.join(',')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ serverNames, subnets, targets });
    }
  }
  return out;
}
