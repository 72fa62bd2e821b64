// VirtualService TCP routes for a sidecar: the first `tcp` route of the host's VirtualService
// whose match applies (port, sourceLabels, sourceNamespace, gateways `mesh`) decides where a
// TCP service port's traffic goes, with weights.
import type { MeshService } from '../model/mesh-services.js';
import { tcpTargets } from './cluster-refs.js';
import { sourceMatches } from './source-match.js';
import { proxyNamespace, type MeshView, type SidecarProxy } from './input.js';

/** The tcp_proxy target for a TCP service port: a cluster or weighted clusters; undefined when no VirtualService route applies. */
export function tcpRouteTargets(mesh: MeshView, proxy: SidecarProxy, service: MeshService, port: number): string | Array<{ name: string; weight: number }> | undefined {
  const ns = proxyNamespace(proxy);
  const vs = mesh.sidecarVirtualServiceFor(service.hostname, ns, proxy.labels);
  if (!vs) return undefined;
  for (const r of mesh.l4Routes(vs).tcp) {
    if (r.matches.length > 0 && !r.matches.some((m) => sourceMatches(m, proxy, port))) continue;
    const targets = tcpTargets(mesh, ns, r.targets, port);
    if (targets) return targets;
  }
  return undefined;
}
