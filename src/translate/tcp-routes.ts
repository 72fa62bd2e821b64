// VirtualService TCP routes for a sidecar: the first `tcp` route of the host's VirtualService
// whose match applies (port, sourceLabels, sourceNamespace, gateways `mesh`) decides where a
// TCP service port's traffic goes, with weights.
import type { MeshService } from '../model/mesh-services.js';
import { destinationCluster, weighted } from './destinations.js';
import { sourceMatches } from './source-match.js';
import { proxyNamespace, type MeshView, type SidecarProxy } from './input.js';

/** The tcp_proxy target for a TCP service port: a cluster or weighted clusters; undefined when no VirtualService route applies. */
export function tcpRouteTargets(mesh: MeshView, proxy: SidecarProxy, service: MeshService, port: number): string | Array<{ name: string; weight: number }> | undefined {
  const ns = proxyNamespace(proxy);
  const vs = mesh.sidecarVirtualServiceFor(service.hostname, ns);
  if (!vs) return undefined;
  for (const r of vs.config.spec.tcp ?? []) {
    const matches = r.match ?? [];
    if (matches.length > 0 && !matches.some((m) => sourceMatches(m, proxy, port))) continue;
    const ws = weighted(r.route ?? []).map((w) => ({ name: destinationCluster(mesh, ns, vs.config.namespace, w.item.destination, port), weight: w.weight }));
    if (ws.length === 0) continue;
    return ws.length === 1 ? ws[0].name : ws;
  }
  return undefined;
}
