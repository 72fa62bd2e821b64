// A resolved destination (the model's cluster reference) as the cluster a proxy sends to:
// `outbound|<port>|<subset>|<host>` with the port the reference names, else the service's only
// port as this proxy's namespace resolves the host, else the port the traffic came in on.
import type { ClusterRef, RouteTarget } from '../model/http-routes.js';
import type { MeshView } from './input.js';
import { outboundClusterName } from './names.js';

export function clusterPort(mesh: MeshView, clientNamespace: string, ref: ClusterRef, listenerPort: number): number {
  if (ref.port !== undefined) return ref.port;
  const svc = mesh.services().resolve(ref.host, clientNamespace);
  return svc && svc.ports.length === 1 ? svc.ports[0].number : listenerPort;
}

export function clusterName(mesh: MeshView, clientNamespace: string, ref: ClusterRef, listenerPort: number): string {
  return outboundClusterName(clusterPort(mesh, clientNamespace, ref, listenerPort), ref.host, ref.subset);
}

/** A tcp_proxy target: one cluster, or weighted clusters; undefined when there is none. */
export function tcpTargets(mesh: MeshView, clientNamespace: string, targets: readonly RouteTarget[], listenerPort: number): string | Array<{ name: string; weight: number }> | undefined {
  if (targets.length === 0) return undefined;
  const named = targets.map((t) => ({ name: clusterName(mesh, clientNamespace, t.cluster, listenerPort), weight: t.weight }));
  return named.length === 1 ? named[0].name : named;
}
