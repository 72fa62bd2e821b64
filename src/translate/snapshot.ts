// A sidecar's whole configuration: what the xDS server sends one proxy, by type and name; and a
// SnapshotProvider that translates on demand from the current mesh.
import type { ProxyInfo } from '../xds/proxy-info.js';
import type { Snapshot, SnapshotProvider } from '../xds/snapshot.js';
import { resourceName, TypeUrl, type ResourceOf } from '../xds/types.js';
import { sidecarClusters } from './clusters.js';
import { endpointsFor, withLocalityFailover } from './endpoints.js';
import { clusterPolicy } from './traffic-policy.js';
import { inboundPorts } from './inbound-ports.js';
import { DEFAULT_SIDECAR_OPTIONS, proxyNamespace, visibleServices, type MeshView, type SidecarOptions, type SidecarProxy } from './input.js';
import { virtualInboundListener } from './listeners-inbound.js';
import { outboundListeners } from './listeners-outbound.js';
import { outboundClusterName } from './names.js';
import { outboundRouteConfigurations } from './routes.js';
import { sidecarSecrets } from './secrets.js';


function byName<T extends TypeUrl>(type: T, items: readonly ResourceOf[T][]): Map<string, ResourceOf[T]> {
  const m = new Map<string, ResourceOf[T]>();
  for (const x of items) {
    const name = resourceName(type, x);
    if (name !== undefined && !m.has(name)) m.set(name, x);
  }
  return m;
}

/** The ClusterLoadAssignments of the proxy's EDS clusters. */
export function sidecarEndpoints(mesh: MeshView, proxy: SidecarProxy): ResourceOf[typeof TypeUrl.Endpoint][] {
  const ns = proxyNamespace(proxy);
  const out: ResourceOf[typeof TypeUrl.Endpoint][] = [];
  for (const svc of visibleServices(mesh, proxy)) {
    if (svc.hostname.startsWith('*') || svc.resolution === 'NONE' || svc.resolution === 'DNS' || svc.resolution === 'DNS_ROUND_ROBIN') continue;
    const dr = mesh.destinationRuleFor(svc.hostname, ns, { ...proxy.labels });
    for (const port of svc.ports) {
      if (port.protocol === 'UDP') continue;
      // Locality failover as Istio: only where outlier detection can move traffic away.
      const failover = (subset?: string) => {
        const p = clusterPolicy(dr?.spec, port.number, subset);
        return p.outlierDetection !== undefined && p.loadBalancer?.localityLbSetting?.enabled !== false;
      };
      const assign = (labels: Record<string, string> | undefined, subset?: string) => {
        const cla = endpointsFor(mesh, svc, port, labels, outboundClusterName(port.number, svc.hostname, subset));
        return failover(subset) ? withLocalityFailover(cla, proxy.locality) : cla;
      };
      out.push(assign(undefined));
      for (const s of dr?.spec.subsets ?? []) out.push(assign(s.labels ?? {}, s.name));
    }
  }
  return out;
}

/** Listeners, routes, clusters and endpoints for one sidecar. */
export function sidecarSnapshot(mesh: MeshView, proxy: SidecarProxy, options: Partial<SidecarOptions> = {}): Snapshot {
  const opts: SidecarOptions = { ...DEFAULT_SIDECAR_OPTIONS, ...options };
  const clusters = sidecarClusters(mesh, proxy);
  const eds = new Set(clusters.filter((c) => c.type === 'EDS').map((c) => c.name));
  const listeners = [...outboundListeners(mesh, proxy, opts), virtualInboundListener(inboundPorts(mesh, proxy), opts.inboundPort)];
  return {
    [TypeUrl.Cluster]: byName(TypeUrl.Cluster, clusters),
    [TypeUrl.Endpoint]: byName(TypeUrl.Endpoint, sidecarEndpoints(mesh, proxy).filter((e) => eds.has(e.cluster_name ?? ''))),
    [TypeUrl.Listener]: byName(TypeUrl.Listener, listeners),
    [TypeUrl.Route]: byName(TypeUrl.Route, outboundRouteConfigurations(mesh, proxy, opts.outboundPolicy)),
    [TypeUrl.Secret]: byName(TypeUrl.Secret, sidecarSecrets(mesh, proxy)),
  };
}

/** Translates on demand from the mesh `current()` returns (rebuild the Mesh after a change, then push). */
export class SidecarSnapshotProvider implements SnapshotProvider {
  constructor(
    private readonly current: () => MeshView,
    private readonly options: Partial<SidecarOptions> = {},
  ) {}

  snapshot(proxy: ProxyInfo, types: ReadonlySet<TypeUrl>): Snapshot {
    const all = sidecarSnapshot(this.current(), proxy, this.options) as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const t of types) if (all[t]) out[t] = all[t];
    return out as Snapshot;
  }
}
