// From model changes to pushes: the current Mesh is rebuilt lazily after a change (a Mesh is an
// immutable snapshot), and each change becomes a push of the types it can affect. An
// endpoint-only change pushes EDS alone.
import { DEFAULT_ROOT_NAMESPACE, Mesh, type MeshOptions } from '../model/mesh.js';
import type { ChangeSet, ConfigStore } from '../model/config-store.js';
import { scopeDependsOn } from '../model/sidecars.js';
import { hostMatches } from '../model/hosts.js';
import { boundToMesh, destinationsOf, type ResolvedVirtualService } from '../model/virtual-services.js';
import { isVisibleTo, PUBLIC, visibilityOf } from '../model/visibility.js';
import type { RegistryChange, ServiceRegistry } from '../model/services.js';
import { builtPeerIds, peersUnchanged } from '../translate/clusters.js';
import { TypeUrl } from '../xds/types.js';
import type { Change } from './push-queue.js';

/** Endpoint changes one mesh snapshot outlives before it is built again. */
const MAX_ENDPOINT_MOVES = 1000;

export class MeshSource {
  private mesh: Mesh | undefined;
  private changes = 0;
  /**
   * The identities in the clusters replaced snapshots built, by service (clusters.ts
   * serviceKey): what the proxies hold when the current snapshot built none for a service yet.
   */
  private readonly builtPeers = new Map<string, readonly string[]>();
  constructor(
    private readonly store: ConfigStore,
    private readonly registry: ServiceRegistry,
    private readonly opts: MeshOptions = {},
  ) {}

  /** The mesh as of now; built at most once between two changes. */
  current(): Mesh {
    return (this.mesh ??= new Mesh(this.store, this.registry, { pods: () => this.registry.listPods(), ...this.opts }));
  }

  invalidate(): void {
    this.replace();
    this.changes++;
  }

  private replace(): void {
    if (this.mesh) for (const [service, ids] of builtPeerIds(this.mesh)) this.builtPeers.set(service, ids);
    this.mesh = undefined;
  }

  /**
   * The endpoints of these hostnames changed (an EndpointSlice). The mesh is kept, and notes
   * them for the caches of endpoints, unless the clusters last built for those services (by
   * this mesh, or by an earlier one if this one built none yet: a route change pushes no
   * clusters) no longer hold the endpoints' identities (a new service account): then it is
   * replaced, and the answer is false, as clusters must be pushed too (Istio pushes everything
   * then). After many moves it is replaced anyway, so its notes stay short.
   */
  endpointsMoved(hosts: readonly string[]): boolean {
    this.changes++;
    const mesh = this.current();
    const services = mesh.services();
    if (hosts.some((h) => services.byHost(h).some((s) => !peersUnchanged(mesh, s, this.builtPeers)))) {
      this.replace();
      return false;
    }
    if (mesh.endpointsVersion >= MAX_ENDPOINT_MOVES) this.replace();
    else mesh.noteEndpointsMoved(hosts);
    return true;
  }

  /**
   * The model's version: it grows with every change, and a mesh read after reading it holds
   * every change up to it (the rollout of a config is told in these versions).
   */
  get epoch(): number {
    return this.changes;
  }

  /** Where mesh-wide config lives (Istio's root namespace). */
  get rootNamespace(): string {
    return this.opts.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  }
}

/** Who a change can concern: every proxy, or only gateways, or gateways and some namespaces. */
export interface ChangeScope {
  routersOnly: boolean;
  /** Namespaces whose sidecars can see the change; undefined for all. */
  namespaces: ReadonlySet<string> | undefined;
}

const present = <T>(specs: ReadonlyArray<T | undefined>): T[] => specs.filter((s): s is T => s !== undefined);

/** Who sees a spec: its exportTo, for the kinds that have one; the others are everyone's business. */
function exportToOf(change: ChangeSet): Array<readonly string[] | undefined> {
  switch (change.kind) {
    case 'VirtualService':
    case 'DestinationRule':
    case 'ServiceEntry':
      return present<{ exportTo?: string[] }>([change.before, change.after]).map((s) => s.exportTo);
    default:
      return [undefined];
  }
}

/**
 * The proxies a config change can affect, from the spec before and after it (conservative:
 * when in doubt, everyone). A Gateway, or a VirtualService bound only to gateways, concerns
 * gateway proxies alone; a config exported to some namespaces concerns their sidecars (and
 * gateways, which may sit anywhere).
 */
export function scopeOf(change: ChangeSet): ChangeScope {
  if (change.kind === 'Gateway') return { routersOnly: true, namespaces: undefined };
  if (change.kind === 'VirtualService') {
    const specs = present([change.before, change.after]);
    // A delegate VirtualService (no hosts) is seen through its roots, which may be exported wider.
    if (specs.some((s) => (s.hosts ?? []).length === 0)) return { routersOnly: false, namespaces: undefined };
    if (specs.length > 0 && specs.every((s) => (s.gateways?.length ?? 0) > 0 && !s.gateways!.includes('mesh'))) return { routersOnly: true, namespaces: undefined };
  }
  const namespaces = new Set<string>();
  const all = exportToOf(change);
  for (const exportTo of all) {
    // No exportTo: the mesh-wide default, "*" unless configured otherwise, so everyone to be safe.
    const v = visibilityOf(exportTo, change.namespace, [PUBLIC]);
    if (v.public) return { routersOnly: false, namespaces: undefined };
    for (const n of v.namespaces) namespaces.add(n);
  }
  return { routersOnly: false, namespaces: all.length ? namespaces : undefined };
}

export interface ProxyRef {
  id: string;
  kind: string;
  namespace: string | undefined;
  /** The proxy's labels (which Sidecar it takes); none known means none. */
  labels?: Readonly<Record<string, string>>;
}

/**
 * Of `ids`, the sidecars whose Sidecar scope cannot see a change to a VirtualService,
 * ServiceEntry or DestinationRule (scopeDependsOn): they need no push for it. Proxies without a
 * Sidecar, gateways and proxyless clients are never left out.
 */
export function outsideSidecarScopes(change: ChangeSet, mesh: Mesh, proxies: readonly ProxyRef[]): Set<string> {
  const out = new Set<string>();
  if (change.kind !== 'VirtualService' && change.kind !== 'ServiceEntry' && change.kind !== 'DestinationRule') return out;
  if (mesh.sidecars().empty) return out;
  const scoped = { kind: change.kind, namespace: change.namespace, hosts: change.hosts.map((h) => mesh.resolveHost(h, change.namespace)) };
  const verdicts = new Map<string, boolean>();
  // Which mesh-bound VirtualServices route to each changed host: found once, then per scope filtered.
  const routing = new Map<string, ResolvedVirtualService[]>();
  const routersOf = (h: string): ResolvedVirtualService[] => {
    let found = routing.get(h);
    if (!found) {
      found = mesh.virtualServices().filter((vs) => boundToMesh(vs) && destinationsOf(vs.config, mesh.domain).some((d) => hostMatches(d.host, h)));
      routing.set(h, found);
    }
    return found;
  };
  for (const p of proxies) {
    if (p.kind !== 'sidecar' || p.namespace === undefined) continue;
    const scope = mesh.sidecarScope(p.namespace, p.labels ?? {});
    if (!scope) continue;
    const key = `${scope.namespace} ${scope.ref}`;
    let depends = verdicts.get(key);
    if (depends === undefined) {
      const ns = scope.namespace;
      const lookups = {
        service: (h: string) => mesh.services().forClient(h, ns),
        services: () => mesh.visibleServices(ns),
        routersTo: (h: string) => routersOf(h).filter((vs) => isVisibleTo(vs.visibility, ns)),
      };
      verdicts.set(key, (depends = scopeDependsOn(scope, scoped, lookups)));
    }
    if (!depends) out.add(p.id);
  }
  return out;
}

/** The ids of the connected proxies a scope reaches. */
export function proxiesIn(scope: ChangeScope, proxies: readonly ProxyRef[]): string[] {
  return proxies
    .filter((p) => p.kind === 'router' || (!scope.routersOnly && (!scope.namespaces || scope.namespaces.has(p.namespace ?? ''))))
    .map((p) => p.id);
}

/**
 * A VirtualService is read by listeners (its TCP and TLS routes) and route configurations; by
 * clusters, and so endpoints, only through a Sidecar, which imports the services its
 * VirtualServices route to. Without a Sidecar in the mesh, a route change re-evaluates neither.
 */
function virtualServiceTypes(sidecarsExist: boolean): TypeUrl[] | undefined {
  return sidecarsExist ? undefined : [TypeUrl.Listener, TypeUrl.Route];
}

/**
 * The push a change calls for: why, the types it can affect (all when absent) and the proxies
 * (all when absent). `sidecarsExist`: whether the mesh holds any Sidecar (when unsure, true).
 */
export function pushFor(change: ChangeSet | RegistryChange, connected?: readonly ProxyRef[], rootNamespace = DEFAULT_ROOT_NAMESPACE, sidecarsExist = true): Change {
  if ('op' in change) {
    // Access logs live in listeners' filters alone. A Telemetry reaches the workloads of its own
    // namespace (gateways may sit there too), or, in the root namespace, the whole mesh.
    if (change.kind === 'Telemetry') {
      const types = [TypeUrl.Listener];
      if (!connected || change.namespace === rootNamespace) return { reason: 'config', types };
      return { reason: 'config', types, proxies: connected.filter((p) => p.namespace === change.namespace).map((p) => p.id) };
    }
    // Authorization and request authentication live in listeners' filters and, for a sidecar's
    // inbound HTTP rules, in its inbound routes: nowhere else.
    if (change.kind === 'AuthorizationPolicy' || change.kind === 'RequestAuthentication') return { reason: 'config', types: [TypeUrl.Listener, TypeUrl.Route] };
    const types = change.kind === 'VirtualService' ? virtualServiceTypes(sidecarsExist) : undefined;
    const scope = scopeOf(change);
    if (!connected || (!scope.routersOnly && !scope.namespaces)) return { reason: 'config', ...(types && { types }) };
    return { reason: 'config', ...(types && { types }), proxies: proxiesIn(scope, connected) };
  }
  switch (change.kind) {
    case 'EndpointSlice':
      return { reason: 'endpoints', types: [TypeUrl.Endpoint] };
    case 'Pod':
      // A pod's labels decide its subsets (EDS) and its own inbound listeners.
      return { reason: 'pods', types: [TypeUrl.Endpoint, TypeUrl.Listener, TypeUrl.Cluster] };
    case 'Secret':
      return { reason: 'secrets', types: [TypeUrl.Secret] };
    default:
      return { reason: change.kind === 'Service' ? 'services' : 'namespaces' };
  }
}

/**
 * Where every model change goes: the mesh is invalidated, the push the change calls for is
 * queued (to the proxies it can affect), and, once config changes settle, `onSettled` runs
 * (controllers re-check the warnings that depend on other objects).
 */
export class ModelChanges {
  private settle: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      mesh: MeshSource;
      queue: { enqueue(change: Change): void };
      connected: () => readonly ProxyRef[];
      onSettled: () => void;
      settleMs?: number;
    },
  ) {}

  readonly onChange = (c: ChangeSet | RegistryChange): void => {
    if (!('op' in c) && c.kind === 'EndpointSlice') {
      const types = this.deps.mesh.endpointsMoved(c.hosts) ? [TypeUrl.Endpoint] : [TypeUrl.Cluster, TypeUrl.Endpoint];
      this.deps.queue.enqueue({ reason: 'endpoints', types });
      return;
    }
    this.deps.mesh.invalidate();
    const connected = this.deps.connected();
    const mesh = 'op' in c ? this.deps.mesh.current() : undefined;
    let push = pushFor(c, connected, this.deps.mesh.rootNamespace, !mesh?.sidecars().empty);
    if (mesh && 'op' in c) {
      // A Sidecar that cannot see the change: its proxies are not even re-evaluated.
      const skip = outsideSidecarScopes(c, mesh, connected);
      if (skip.size > 0) push = { ...push, proxies: [...(push.proxies ?? connected.map((p) => p.id))].filter((id) => !skip.has(id)) };
    }
    if (!push.proxies || [...push.proxies].length > 0) this.deps.queue.enqueue(push);
    if ('endpointsOnly' in c && c.endpointsOnly) return;
    this.settleLater();
  };

  /**
   * The keys fetched for a RequestAuthentication's jwksUri changed (`keys`: the proxies' filters
   * change; otherwise only what its status says): listeners are pushed, statuses re-checked.
   */
  readonly onJwksChange = (change: { keys: boolean }): void => {
    this.deps.mesh.invalidate();
    if (change.keys) this.deps.queue.enqueue({ reason: 'jwks', types: [TypeUrl.Listener] });
    this.settleLater();
  };

  private settleLater(): void {
    clearTimeout(this.settle);
    this.settle = setTimeout(this.deps.onSettled, this.deps.settleMs ?? 500);
  }

  close(): void {
    clearTimeout(this.settle);
  }
}
