// A sidecar's configuration: what the xDS server sends one proxy, by type and name, built only
// for the types asked for (provider.ts picks sidecar, gateway or proxyless per proxy).
import type { Snapshot } from '../xds/snapshot.js';
import { resourceName, TypeUrl, type ResourceOf } from '../xds/types.js';
import { sidecarClusters } from './clusters.js';
import { endpointsFor, withLocalityFailover } from './endpoints.js';
import { clusterPolicy } from './traffic-policy.js';
import { inboundPorts } from './inbound-ports.js';
import { DEFAULT_SIDECAR_OPTIONS, visibleDestinations, type MeshView, type SidecarOptions, type SidecarProxy } from './input.js';
import { virtualInboundListener } from './listeners-inbound.js';
import { outboundListeners, servicePortsByNumber } from './listeners-outbound.js';
import { outboundClusterName } from './names.js';
import { outboundRouteConfigurations } from './routes.js';
import { sidecarSecrets } from './secrets.js';

/** Resources keyed by their xDS name; the first of a name wins, nameless ones are left out. */
export function byName<T extends TypeUrl>(type: T, items: readonly ResourceOf[T][]): Map<string, ResourceOf[T]> {
  const m = new Map<string, ResourceOf[T]>();
  for (const x of items) {
    const name = resourceName(type, x);
    if (name !== undefined && !m.has(name)) m.set(name, x);
  }
  return m;
}

/** The ClusterLoadAssignments of the proxy's EDS clusters. */
export function sidecarEndpoints(mesh: MeshView, proxy: SidecarProxy, visible = visibleDestinations(mesh, proxy)): ResourceOf[typeof TypeUrl.Endpoint][] {
  const out: ResourceOf[typeof TypeUrl.Endpoint][] = [];
  for (const { service: svc, rule: dr } of visible) {
    if (svc.hostname.startsWith('*') || svc.resolution === 'NONE' || svc.resolution === 'DNS' || svc.resolution === 'DNS_ROUND_ROBIN') continue;
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
/**
 * The resources of `types` from per-type builders, each built only when asked for: a push of
 * endpoints alone must not translate listeners and routes for every proxy.
 */
export function pickTypes(types: ReadonlySet<TypeUrl>, builders: { [T in TypeUrl]?: () => ReadonlyMap<string, ResourceOf[T]> }): Snapshot {
  const out: Record<string, unknown> = {};
  for (const t of types) {
    const build = builders[t] as (() => unknown) | undefined;
    if (build) out[t] = build();
  }
  return out as Snapshot;
}

/** A value computed on first use (shared by the builders of one snapshot). */
export function once<T>(f: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = f();
      done = true;
    }
    return value;
  };
}

const ALL = new Set<TypeUrl>(Object.values(TypeUrl));

/** Listeners, routes, clusters, endpoints and secrets for one sidecar (only the types asked for). */
export function sidecarSnapshot(mesh: MeshView, proxy: SidecarProxy, options: Partial<SidecarOptions> = {}, types: ReadonlySet<TypeUrl> = ALL): Snapshot {
  const opts: SidecarOptions = { ...DEFAULT_SIDECAR_OPTIONS, ...options };
  const visible = once(() => visibleDestinations(mesh, proxy));
  const inbound = once(() => inboundPorts(mesh, proxy));
  const clusters = once(() => sidecarClusters(mesh, proxy, visible(), inbound()));
  const ports = once(() => servicePortsByNumber(mesh, proxy, visible().map((v) => v.service)));
  return pickTypes(types, {
    [TypeUrl.Cluster]: () => byName(TypeUrl.Cluster, clusters()),
    [TypeUrl.Endpoint]: () => {
      const eds = new Set(clusters().filter((c) => c.type === 'EDS').map((c) => c.name));
      return byName(TypeUrl.Endpoint, sidecarEndpoints(mesh, proxy, visible()).filter((e) => eds.has(e.cluster_name ?? '')));
    },
    [TypeUrl.Listener]: () => byName(TypeUrl.Listener, [...outboundListeners(mesh, proxy, opts, ports()), virtualInboundListener(inbound(), opts.inboundPort)]),
    [TypeUrl.Route]: () => byName(TypeUrl.Route, outboundRouteConfigurations(mesh, proxy, opts.outboundPolicy, ports())),
    [TypeUrl.Secret]: () => byName(TypeUrl.Secret, sidecarSecrets(mesh, proxy, visible())),
  });
}
