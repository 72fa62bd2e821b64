// Sidecar resources as Istio applies them (pilot's SidecarScope): which Sidecar a proxy takes, and
// what its egress listeners import. A proxy takes the oldest Sidecar of its namespace whose
// workloadSelector its labels match, else its namespace's Sidecar without a selector, else the
// mesh default (the root namespace's Sidecar without a selector), else none: then it sees every
// service and VirtualService exported to its namespace, as before Sidecars existed.
//
// An egress host `ns/dnsName` imports the services of namespace `ns` (`.`: the proxy's own, `*`:
// any, `~`: none) whose hostname falls under dnsName, and the VirtualServices of `ns` bound to
// the mesh with a host overlapping it; an exact namespace is tried before `*`. The services a
// selected VirtualService routes to are added too (Istio's inference, so a route never points at
// a cluster the proxy lacks). A listener with a port imports each service on that port alone.
import type { Labels } from '../api/common.js';
import type { CaptureMode, IstioEgressListener, IstioIngressListener, OutboundTrafficPolicyMode, SidecarSpec } from '../api/sidecar.js';
import { isIPAddress } from '../api/validate-primitives.js';
import { isHttp } from './protocol.js';
import { PROXY_PORTS } from '../sidecar/iptables.js';
import type { ConnectionPoolSettings } from '../api/destination-rule.js';
import type { Destination } from '../api/virtual-service.js';
import { compareByAge } from './config-order.js';
import type { Config } from './config-store.js';
import { hostMatches, hostSubsetOf } from './hosts.js';
import { labelsMatch } from './labels.js';
import type { MeshService } from './mesh-services.js';
import type { ResolvedVirtualService } from './virtual-services.js';

export type SidecarConfig = Config<SidecarSpec>;

/** Egress hosts by namespace (`*` for any), `.` already replaced by the proxy's namespace. */
type HostsByNamespace = ReadonlyMap<string, readonly string[]>;

export interface ScopedEgressListener {
  /** The port the listener serves; undefined for the catch-all. */
  port: number | undefined;
  hosts: HostsByNamespace;
  /** Where the listener's traffic arrives, as written (egressListenerAddress reads them with the proxy's capture). */
  bind?: string;
  captureMode?: IstioEgressListener['captureMode'];
  /**
   * A listener on a Unix domain socket (`bind: unix://…`, port 0): its port's protocol. It
   * imports its hosts on every port and serves them on the socket alone, not on their ports.
   */
  socketProtocol?: string;
}

/**
 * An egress listener's own address (egressListenerAddress), and whether it is bound to the port
 * itself (`bindToPort`, Istio's), for the app to call directly rather than being captured.
 */
export interface PortBind {
  address: string;
  bindToPort: boolean;
}

export const UNIX_ADDRESS_PREFIX = 'unix://';

/**
 * Ports the sidecar's Envoy cannot bind: privileged ones (it runs as 1337 without capabilities)
 * and its own (admin, capture, agent, stats, readiness). Istio skips such a listener too
 * (CanBindToPort); served anyway, Envoy would refuse the whole listener update.
 */
export function sidecarCannotBind(port: number): boolean {
  return port < 1024 || port === PROXY_ADMIN_PORT || PROXY_PORTS.includes(port);
}
const PROXY_ADMIN_PORT = 15000;

/**
 * Istio's bindToPort: a listener bound to its port for callers to reach directly, rather than fed
 * by iptables. captureMode NONE binds; on a pod without capture (`captured` false) every egress
 * listener binds, and an ingress listener unless it asks for IPTABLES (Istio's getBindToPort for
 * ingress, buildSidecarOutboundListeners for egress).
 */
export function bindsToPort(captureMode: CaptureMode | undefined, captured: boolean, direction: 'egress' | 'ingress'): boolean {
  if (captureMode === 'NONE') return true;
  if (captured) return false;
  return direction === 'egress' || captureMode !== 'IPTABLES';
}

/**
 * The address of its own an egress listener has, if any: its `bind` (an IP address; a Unix
 * socket is served by a listener of its own, anything else by none), else 127.0.0.1 when bound
 * to the port; on a port-specific listener, not a port the sidecar cannot bind. A listener
 * without a port lends its address to each port of its services (bindAt). `captured`: iptables
 * captures the proxy's traffic (interceptionMode REDIRECT, the default).
 */
export function egressListenerAddress(l: Pick<ScopedEgressListener, 'port' | 'bind' | 'captureMode'>, captured = true): PortBind | undefined {
  if (l.bind && !isIPAddress(l.bind)) return undefined;
  const bindToPort = bindsToPort(l.captureMode, captured, 'egress');
  const address = l.bind || (bindToPort ? '127.0.0.1' : undefined);
  return address === undefined ? undefined : bindAt({ address, bindToPort }, l.port);
}

/** A listener's address on one port: none where binding would take a port the sidecar cannot bind. */
export function bindAt(bind: PortBind, port: number | undefined): PortBind | undefined {
  return bind.bindToPort && port !== undefined && sidecarCannotBind(port) ? undefined : bind;
}

/** One Sidecar as it applies to the proxies of one namespace. */
export interface SidecarScope {
  /** `namespace/name` of the Sidecar. */
  ref: string;
  /** The namespace of the proxies it applies to (where `.` points). */
  namespace: string;
  egress: ScopedEgressListener[];
  /**
   * Undefined: the Sidecar sets no outboundTrafficPolicy, and the mesh's applies. A policy
   * without a mode is REGISTRY_ONLY, as in Istio (the proto enum's zero value).
   */
  outboundPolicy: OutboundTrafficPolicyMode | undefined;
  /** Under ALLOW_ANY, where unknown traffic goes instead of passing through (TCP-level). */
  egressProxy: Destination | undefined;
  ingress: readonly IstioIngressListener[];
  /** The inbound clusters' connection pool, where an ingress listener of the port sets none. */
  inboundConnectionPool: ConnectionPoolSettings | undefined;
}

/** Istio's default when a Sidecar sets no egress: one catch-all listener importing `*∕*`. */
const IMPORT_ALL: ScopedEgressListener = { port: undefined, hosts: new Map([['*', ['*']]]) };

export function scopeOf(config: SidecarConfig, proxyNamespace: string): SidecarScope {
  const egress = (config.spec.egress ?? []).map((l): ScopedEgressListener => {
    const hosts = new Map<string, string[]>();
    for (const h of l.hosts ?? []) {
      const slash = h.indexOf('/');
      if (slash < 0) continue; // validation refuses it; a stored one imports nothing
      const ns = h.slice(0, slash) === '.' ? proxyNamespace : h.slice(0, slash);
      hosts.set(ns, [...(hosts.get(ns) ?? []), h.slice(slash + 1)]);
    }
    const socket = l.bind?.startsWith(UNIX_ADDRESS_PREFIX) ? { socketProtocol: (l.port?.protocol ?? 'TCP').toUpperCase() } : {};
    return { port: l.port?.number || undefined, hosts, ...(l.bind ? { bind: l.bind } : {}), ...(l.captureMode ? { captureMode: l.captureMode } : {}), ...socket };
  });
  const outbound = config.spec.outboundTrafficPolicy;
  return {
    ref: `${config.namespace}/${config.name}`,
    namespace: proxyNamespace,
    egress: egress.length > 0 ? egress : [IMPORT_ALL],
    outboundPolicy: outbound ? (outbound.mode ?? 'REGISTRY_ONLY') : undefined,
    egressProxy: outbound?.mode === 'ALLOW_ANY' ? outbound.egressProxy : undefined,
    ingress: config.spec.ingress ?? [],
    inboundConnectionPool: config.spec.inboundConnectionPool,
  };
}

/** The Sidecars by namespace, for choosing the one of a proxy. */
export class SidecarIndex {
  private readonly byNamespace = new Map<string, SidecarConfig[]>();
  private readonly scopes = new Map<string, SidecarScope>();

  constructor(
    configs: readonly SidecarConfig[],
    private readonly rootNamespace: string,
  ) {
    // Istio's order: Sidecars with a selector first, then oldest first.
    const sorted = [...configs].sort((a, b) => Number(!a.spec.workloadSelector) - Number(!b.spec.workloadSelector) || compareByAge(a, b));
    for (const c of sorted) this.byNamespace.set(c.namespace, [...(this.byNamespace.get(c.namespace) ?? []), c]);
  }

  get empty(): boolean {
    return this.byNamespace.size === 0;
  }

  /** The label keys Sidecar selectors read (two proxies of one namespace alike in these take the same Sidecar). */
  selectorKeys(): string[] {
    return [...this.byNamespace.values()].flat().flatMap((c) => Object.keys(c.spec.workloadSelector?.labels ?? {}));
  }

  /** The Sidecars of `namespace` in Istio's order (with a selector first, then oldest first). */
  inNamespace(namespace: string): readonly SidecarConfig[] {
    return this.byNamespace.get(namespace) ?? [];
  }

  /** The Sidecar a proxy in `namespace` with `labels` takes, or undefined for none. */
  configFor(namespace: string, labels: Readonly<Labels>): SidecarConfig | undefined {
    const own = (this.byNamespace.get(namespace) ?? []).find((c) => !c.spec.workloadSelector || labelsMatch(c.spec.workloadSelector.labels ?? {}, labels));
    return own ?? (this.byNamespace.get(this.rootNamespace) ?? []).find((c) => !c.spec.workloadSelector);
  }

  /** The scope a proxy in `namespace` with `labels` sees through, or undefined when no Sidecar applies. */
  scopeFor(namespace: string, labels: Readonly<Labels>): SidecarScope | undefined {
    const config = this.configFor(namespace, labels);
    if (!config) return undefined;
    const key = `${namespace} ${config.namespace}/${config.name}`;
    let scope = this.scopes.get(key);
    if (!scope) this.scopes.set(key, (scope = scopeOf(config, namespace)));
    return scope;
  }
}

/** The imported hosts of a listener for objects of namespace `ns`: its exact namespace first, then `*`. */
function importsFor(listener: ScopedEgressListener, ns: string): Array<readonly string[]> {
  return [listener.hosts.get(ns), listener.hosts.get('*')].filter((h): h is readonly string[] => h !== undefined);
}

/** True when the listener imports the service (its namespace and hostname). */
export function importsService(listener: ScopedEgressListener, service: Pick<MeshService, 'hostname' | 'namespace'>): boolean {
  return importsFor(listener, service.namespace).some((hosts) => hosts.some((h) => h === '*' || hostSubsetOf(service.hostname, h)));
}

/** True when the listener imports the VirtualService: of an imported namespace, with a host overlapping an imported one. */
export function importsVirtualService(listener: ScopedEgressListener, vs: ResolvedVirtualService): boolean {
  return importsFor(listener, vs.config.namespace).some((hosts) => hosts.some((h) => vs.hosts.some((vh) => h === '*' || hostMatches(vh, h))));
}

/** True when any egress listener of the scope imports the VirtualService. */
export function scopeImportsVirtualService(scope: SidecarScope, vs: ResolvedVirtualService): boolean {
  return scope.egress.some((l) => importsVirtualService(l, vs));
}

/** A service narrowed to one port, or undefined when it has none such. */
function onPort(service: MeshService, port: number | undefined): MeshService | undefined {
  if (port === undefined) return service;
  const ports = service.ports.filter((p) => p.number === port);
  return ports.length > 0 ? { ...service, ports } : undefined;
}

export interface ScopedServices {
  /** Every imported service (ports of one hostname merged), for clusters and endpoints. */
  services: MeshService[];
  /**
   * The hostnames the egress hosts import, which listeners and routes serve; a VirtualService's
   * destination brought in only by inference gets a cluster and no virtual host (as in Istio).
   */
  listed: ReadonlySet<string>;
  /** For the ports a port-specific egress listener serves: the hostnames it imported there. */
  portOwners: ReadonlyMap<number, ReadonlySet<string>>;
  /** For each HTTP listener on a Unix domain socket (its `bind`): the hostnames it imported. */
  sockets: ReadonlyMap<string, ReadonlySet<string>>;
}

/**
 * The services a scope imports from those visible to its namespace (one per hostname), plus the
 * destinations of its VirtualServices (`destinationsOf`: resolved hosts), each looked up with
 * `lookup` (the client namespace's pick for a hostname).
 */
export function scopedServices(
  scope: SidecarScope,
  visible: readonly MeshService[],
  virtualServices: readonly ResolvedVirtualService[],
  destinationsOf: (vs: ResolvedVirtualService) => readonly string[],
  lookup: (host: string) => MeshService | undefined,
): ScopedServices {
  const byHost = new Map<string, MeshService>();
  const listed = new Set<string>();
  const portOwners = new Map<number, Set<string>>();
  const sockets = new Map<string, Set<string>>();
  const add = (service: MeshService | undefined, listener: ScopedEgressListener, inferred = false): void => {
    if (!service) return;
    // A socket's hosts are served on the socket alone.
    if (!inferred && listener.socketProtocol !== undefined && listener.bind) sockets.set(listener.bind, (sockets.get(listener.bind) ?? new Set()).add(service.hostname));
    else if (!inferred) listed.add(service.hostname);
    if (!inferred && listener.port !== undefined) portOwners.set(listener.port, (portOwners.get(listener.port) ?? new Set()).add(service.hostname));
    const found = byHost.get(service.hostname);
    if (!found) byHost.set(service.hostname, service);
    else if (found.namespace === service.namespace) {
      // Each listener may import part of a service's ports: the scope holds them all.
      const more = service.ports.filter((p) => !found.ports.some((q) => q.number === p.number));
      if (more.length > 0) byHost.set(service.hostname, { ...found, ports: [...found.ports, ...more] });
    }
  };
  for (const listener of scope.egress) {
    // A socket is served over HTTP only (TCP has no port to pick a service by): a TCP one imports nothing.
    if (listener.socketProtocol !== undefined && !isHttp(listener.socketProtocol)) continue;
    for (const s of visible) if (importsService(listener, s)) add(onPort(s, listener.port), listener);
    // Requested hosts take priority: inferred destinations only fill in hostnames not yet present.
    for (const vs of virtualServices) {
      if (!importsVirtualService(listener, vs)) continue;
      for (const host of destinationsOf(vs)) {
        const service = byHost.has(host) ? undefined : lookup(host);
        if (service) add(onPort(service, listener.port), listener, true);
      }
    }
  }
  const services = [...byHost.values()].sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
  return { services, listed, portOwners, sockets };
}

/** A change to a VirtualService, ServiceEntry or DestinationRule, as a Sidecar scope sees it. */
export interface ScopedChange {
  kind: 'VirtualService' | 'ServiceEntry' | 'DestinationRule';
  namespace: string;
  /** Its hosts before and after, resolved in its namespace; empty for a delegate VirtualService. */
  hosts: readonly string[];
}

/** What scopeDependsOn asks of the mesh, only for ServiceEntry and DestinationRule changes. */
export interface ScopeLookups {
  /** The service sidecars of the scope's namespace take for an exact hostname, if any. */
  service(host: string): Pick<MeshService, 'hostname' | 'namespace'> | undefined;
  /** Every service of the scope's namespace (for a wildcard host). */
  services(): readonly Pick<MeshService, 'hostname' | 'namespace'>[];
  /** The mesh-bound VirtualServices, visible to the scope's namespace, that route to a host overlapping `host`. */
  routersTo(host: string): readonly ResolvedVirtualService[];
}

/**
 * Whether a change can alter what proxies of this scope get (Istio's SidecarScope
 * DependsOnConfig): a VirtualService they import (a delegate: always); a ServiceEntry host they
 * import, or the hostname of a service they hold (a new host of another namespace can change
 * which namespace's service a hostname means), or one their imported VirtualServices route to;
 * a DestinationRule for a host they hold or route to.
 */
export function scopeDependsOn(scope: SidecarScope, change: ScopedChange, lookups: ScopeLookups): boolean {
  if (change.hosts.length === 0) return true;
  if (change.kind === 'VirtualService') {
    return scope.egress.some((l) => importsVirtualService(l, { config: { namespace: change.namespace }, hosts: [...change.hosts] } as ResolvedVirtualService));
  }
  const imported = (s: Pick<MeshService, 'hostname' | 'namespace'>): boolean => scope.egress.some((l) => importsService(l, s));
  const held = (h: string): boolean => {
    if (!h.startsWith('*')) {
      const s = lookups.service(h);
      return s !== undefined && imported(s);
    }
    return lookups.services().some((s) => hostMatches(s.hostname, h) && imported(s));
  };
  // A service the scope infers from the destinations of a VirtualService it imports.
  const routedTo = (h: string): boolean => lookups.routersTo(h).some((vs) => scopeImportsVirtualService(scope, vs));
  const importedHere = (h: string): boolean => scope.egress.some((l) => importsFor(l, change.namespace).some((hosts) => hosts.some((i) => i === '*' || hostMatches(h, i))));
  return change.hosts.some((h) => held(h) || routedTo(h) || (change.kind === 'ServiceEntry' && importedHere(h)));
}
