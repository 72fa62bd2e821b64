// A VirtualService destination as the cluster it names: `outbound|<port>|<subset>|<host>`, the
// host resolved in the VirtualService's namespace, the port the destination names, else the
// service's only port, else the port the traffic came in on.
import type { Destination } from '../api/virtual-service.js';
import type { MeshView } from './input.js';
import { outboundClusterName } from './names.js';

export function destinationCluster(mesh: MeshView, clientNamespace: string, vsNamespace: string, d: Destination, listenerPort: number): string {
  const host = mesh.resolveHost(d.host, vsNamespace);
  let port = d.port?.number;
  if (port === undefined) {
    const svc = mesh.services().resolve(host, clientNamespace);
    port = svc && svc.ports.length === 1 ? svc.ports[0].number : listenerPort;
  }
  return outboundClusterName(port, host, d.subset || undefined);
}

/** Weighted destinations: a single cluster, or clusters with relative weights (Envoy divides by their sum). */
export function weighted<T extends { weight?: number }>(items: readonly T[]): Array<{ item: T; weight: number }> {
  if (items.length === 1) return [{ item: items[0], weight: 100 }];
  // Istio's weights are relative, and with several destinations a missing weight is 0.
  return items.map((item) => ({ item, weight: item.weight ?? 0 })).filter((x) => x.weight > 0);
}
