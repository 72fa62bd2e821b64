// A sidecar's outbound configuration (clusters, endpoints, outbound listeners, routes, secrets)
// depends on the proxy only through its namespace, its values of the label keys some selector
// reads (Mesh.proxyLabelKeys), whether iptables captures its traffic (interceptionMode) and, for
// endpoints, its locality. Sidecars alike in those get the
// same outbound configuration: SidecarShare translates it once per mesh snapshot and scope and
// hands every such proxy the same objects, so the xDS server's ResourceCache encodes each
// resource once per push rather than once per proxy. The inbound side (the pod's own ports) is
// added per set of inbound ports, which replicas of one workload share (but for an ingress port
// bound on each pod's own address, which sets them apart), and kept from one mesh
// snapshot to the next (InboundParts): a route change leaves every workload's inbound side as
// it was, so it is neither translated nor encoded again.
import type { Labels } from '../api/common.js';
import { TypeUrl, type Cluster, type ClusterLoadAssignment, type Listener, type RouteConfiguration, type Secret } from '../xds/types.js';
import { blackholeCluster, inboundCluster, inboundPassthroughCluster, outboundClusters, passthroughCluster } from './clusters.js';
import type { InboundPort } from './inbound-ports.js';
import { captured, sidecarView, visibleDestinations, visibleServices, type MeshView, type SidecarOptions, type SidecarProxy, type SidecarView, type VisibleService } from './input.js';
import type { MeshService } from '../model/mesh-services.js';
import { boundInboundListeners, inboundHttpPorts, inboundRouteConfiguration, PERMISSIVE_MTLS, virtualInboundListener, type InboundMtls } from './listeners-inbound.js';
import { NO_SECURITY, type WorkloadSecurity } from './workload-security.js';
import { NO_ACCESS_LOGS, type ListenerAccessLogs } from './access-log.js';
import { fallbackCluster, outboundListeners, servicePortsByNumber } from './listeners-outbound.js';
import { outboundRouteConfigurations, socketRouteConfiguration } from './routes.js';
import { sidecarEndpoints } from './endpoints.js';
import { byName, once, withResources } from './resources.js';
import { sidecarSecrets } from './secrets.js';

type Locality = SidecarProxy['locality'];

/** A workload's SERVER-side access logs: a key naming what decides them, and the entries, built on first use. */
export interface InboundAccessLogs {
  key: string;
  entries(): ListenerAccessLogs;
}

export const NO_INBOUND_LOGS: InboundAccessLogs = { key: '', entries: () => NO_ACCESS_LOGS };

/** A workload's own resources: a pure function of the key withInbound names them by. */
interface InboundResources {
  readonly clusters: readonly Cluster[];
  /** virtualInbound, then the listeners of ports bound by the Sidecar (boundInboundListeners). */
  readonly listeners: readonly Listener[];
  readonly routes: readonly RouteConfiguration[];
}

/**
 * Inbound resources by their key, across mesh snapshots. Two generations: what no proxy asked
 * for during a whole snapshot is let go when the next one starts.
 */
export class InboundParts {
  private current = new Map<string, InboundResources>();
  private previous = new Map<string, InboundResources>();

  get(key: string, build: () => InboundResources): InboundResources {
    let found = this.current.get(key);
    if (found) return found;
    found = this.previous.get(key) ?? build();
    this.current.set(key, found);
    return found;
  }

  /** A new mesh snapshot begins. */
  rotate(): void {
    this.previous = this.current;
    this.current = new Map();
  }
}

/** One scope's outbound configuration, each part built on first use. */
export interface OutboundConfig {
  /** Every service the scope's namespace sees, its Sidecar aside (a workload's own services among them). */
  services(): readonly MeshService[];
  /** The services the scope's outbound configuration holds (what its Sidecar imports), with their DestinationRules. */
  visible(): readonly VisibleService[];
  /**
   * The clusters and listeners of a proxy of this scope whose own workload has `inbound` ports:
   * the outbound ones plus `inbound|<port>||` clusters and virtualInbound. Replicas of one
   * workload have the same ports, so they get the same maps (unless a port is bound on the pod's
   * own address).
   */
  withInbound(
    inbound: readonly InboundPort[],
    mtls?: InboundMtls,
    security?: WorkloadSecurity,
    logs?: InboundAccessLogs,
  ): { clusters: ReadonlyMap<string, Cluster>; listeners: ReadonlyMap<string, Listener>; routes: ReadonlyMap<string, RouteConfiguration> };
  endpoints(locality: Locality): ReadonlyMap<string, ClusterLoadAssignment>;
  routes(): ReadonlyMap<string, RouteConfiguration>;
  secrets(): ReadonlyMap<string, Secret>;
}

/**
 * The proxy as its outbound configuration may see it: namespace, the labels selectors read and
 * whether iptables captures its traffic, nothing else (so a translation that read more would differ between proxies, and tests would
 * see it); and the key naming that scope.
 */
export function outboundScope(mesh: MeshView, proxy: SidecarProxy): { key: string; proxy: SidecarProxy } {
  const labels: Labels = {};
  for (const k of [...mesh.proxyLabelKeys()].sort()) {
    const v = proxy.labels[k];
    if (v !== undefined) labels[k] = v;
  }
  // JSON, not joined strings: namespace and labels come from the proxy's own metadata, and no
  // choice of them may produce another scope's key (and so another proxy's configuration).
  const interception = proxy.interception === 'NONE' ? { interception: 'NONE' as const } : {};
  return { key: JSON.stringify([proxy.namespace ?? null, labels, proxy.interception ?? null]), proxy: { namespace: proxy.namespace, ip: undefined, labels, ...interception } };
}

/** A port a port-specific egress listener owns serves only the hostnames that listener imported. */
function portsServed(ports: ReturnType<typeof servicePortsByNumber>, owners: SidecarView['portOwners']): ReturnType<typeof servicePortsByNumber> {
  if (owners.size === 0) return ports;
  for (const [port, hosts] of owners) {
    const entries = ports.get(port)?.filter((e) => hosts.has(e.service.hostname));
    if (entries) ports.set(port, entries);
  }
  return ports;
}

const localityKey = (l: Locality): string => JSON.stringify(l ? [l.region, l.zone, l.subZone] : null);

/** The outbound configuration of a scope (`scope` as outboundScope returns it). */
export function outboundConfig(mesh: MeshView, scope: SidecarProxy, options: SidecarOptions, inboundParts?: InboundParts): OutboundConfig {
  const services = once(() => visibleServices(mesh, scope));
  const view = sidecarView(mesh, scope, services());
  // An egressProxy comes only with the Sidecar's ALLOW_ANY (model/sidecars), and fallbackCluster reads it under ALLOW_ANY alone.
  const opts: SidecarOptions = { ...options, outboundPolicy: view.outboundPolicy ?? options.outboundPolicy, egressCluster: view.egressCluster };
  const visible = once(() => visibleDestinations(mesh, scope, view.services));
  const clusterList = once(() => outboundClusters(mesh, scope, visible()));
  const ports = once(() => portsServed(servicePortsByNumber(mesh, scope, view.listed ? view.services.filter((s) => view.listed!.has(s.hostname)) : view.services), view.portOwners));
  const endpointsByLocality = new Map<string, { version: number; map: ReadonlyMap<string, ClusterLoadAssignment> }>();
  const clusters = once(() => byName(TypeUrl.Cluster, [...clusterList(), passthroughCluster(), blackholeCluster(), inboundPassthroughCluster()]));
  const listeners = once(() => outboundListeners(mesh, scope, opts, ports(), view.bindOf, [...view.sockets.keys()]));
  const byInbound = new Map<string, { clusters: ReadonlyMap<string, Cluster>; listeners: ReadonlyMap<string, Listener>; routes: ReadonlyMap<string, RouteConfiguration> }>();
  const routes = once(() => {
    const fallback = fallbackCluster(opts);
    const onSockets = [...view.sockets].map(([bind, hosts]) => socketRouteConfiguration(mesh, scope, bind, view.services.filter((v) => hosts.has(v.hostname)), fallback));
    return byName(TypeUrl.Route, [...outboundRouteConfigurations(mesh, scope, fallback, ports()), ...onSockets]);
  });
  return {
    services,
    visible,
    withInbound: (inbound, mtls = PERMISSIVE_MTLS, security = NO_SECURITY, logs = NO_INBOUND_LOGS) => {
      // Everything the inbound resources are built from: the key is their identity across snapshots.
      const key = JSON.stringify([inbound, opts.inboundPort, mtls.mode, [...mtls.ports], mtls.trustDomains, security.key, logs.key, captured(scope)]);
      let m = byInbound.get(key);
      if (!m) {
        const build = (): InboundResources => {
          const entries = logs.entries();
          return {
            clusters: inbound.map(inboundCluster),
            // Without capture nothing reaches virtualInbound: only the ports bound are served.
            listeners: [...(captured(scope) ? [virtualInboundListener(inbound, opts.inboundPort, mtls, security, entries)] : []), ...boundInboundListeners(inbound, mtls, security, entries)],
            routes: inboundHttpPorts(inbound, opts.inboundPort).map((p) => inboundRouteConfiguration(p, security)),
          };
        };
        const own = once(() => (inboundParts ? inboundParts.get(key, build) : build()));
        // Each type built when first asked for: a route change does not copy every cluster.
        const withClusters = once(() => withResources(TypeUrl.Cluster, clusters(), own().clusters));
        // An ingress listener bound on the wildcard shares its name, `0.0.0.0_<port>`, with the
        // port's outbound listener: the outbound one stays, or virtualOutbound would hand the
        // workload's calls to every service on that port to its own app (the Sidecar's warning says so).
        const withListeners = once(() => {
          const outbound = listeners();
          const taken = new Set(outbound.map((l) => l.name));
          return byName(TypeUrl.Listener, [...outbound, ...own().listeners.filter((l) => !taken.has(l.name ?? ''))]);
        });
        const withRoutes = once(() => withResources(TypeUrl.Route, routes(), own().routes));
        m = {
          get clusters() {
            return withClusters();
          },
          get listeners() {
            return withListeners();
          },
          get routes() {
            return withRoutes();
          },
        };
        byInbound.set(key, m);
      }
      return m;
    },
    endpoints: (locality) => {
      const key = localityKey(locality);
      const known = endpointsByLocality.get(key);
      const version = mesh.endpointsVersion;
      if (known?.version === version) return known.map;
      const build = (of: VisibleService[]): Map<string, ClusterLoadAssignment> => {
        const eds = new Set(clusterList().filter((c) => c.type === 'EDS').map((c) => c.name));
        return byName(TypeUrl.Endpoint, sidecarEndpoints(mesh, { ...scope, locality }, of).filter((e) => eds.has(e.cluster_name ?? '')));
      };
      let map: ReadonlyMap<string, ClusterLoadAssignment>;
      if (!known) map = build(visible());
      else {
        // Endpoints moved since: only those services' assignments are built again (their names
        // come from config, which has not changed); the others are the same objects, so the
        // server encodes and sends nothing of them.
        const moved = mesh.hostsMovedSince(known.version);
        const fresh = build(visible().filter((v) => moved.has(v.service.hostname)));
        map = fresh.size === 0 ? known.map : new Map([...known.map, ...fresh]);
      }
      endpointsByLocality.set(key, { version, map });
      return map;
    },
    routes,
    secrets: once(() => byName(TypeUrl.Secret, sidecarSecrets(mesh, scope, visible()))),
  };
}

/**
 * Outbound configurations shared by the sidecars of one scope, for as long as the mesh snapshot
 * they came from is current (a new Mesh after any change starts afresh; old ones are collected).
 * This relies on a Mesh never outliving a change but one: a Mesh reads the registry's endpoints
 * and Secrets live, and MeshSource.invalidate() runs in the same tick as every store or registry
 * change (push/changes.ts), so no translation cached here saw an older registry than its Mesh.
 * The exception is an EndpointSlice change that leaves the endpoints' identities as the clusters
 * have them: the Mesh is kept and notes the hostnames (endpointsMoved), and endpoints() builds
 * again the assignments of those alone.
 */
export class SidecarShare {
  private readonly byMesh = new WeakMap<MeshView, Map<string, OutboundConfig>>();
  readonly inbound = new InboundParts();

  constructor(private readonly opts: SidecarOptions) {}

  outbound(mesh: MeshView, proxy: SidecarProxy): OutboundConfig {
    let scopes = this.byMesh.get(mesh);
    if (!scopes) {
      this.byMesh.set(mesh, (scopes = new Map()));
      this.inbound.rotate();
    }
    const scope = outboundScope(mesh, proxy);
    let config = scopes.get(scope.key);
    if (!config) scopes.set(scope.key, (config = outboundConfig(mesh, scope.proxy, this.opts, this.inbound)));
    return config;
  }
}

