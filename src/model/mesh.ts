// The mesh as Istio would see it, answering questions over the accepted config (ConfigStore) and
// the service registry: which service a host is, which VirtualService and DestinationRule apply
// for a client namespace, which Sidecar narrows what a proxy sees, what a Gateway serves, which
// mutual TLS a workload accepts. A Mesh is a
// snapshot: it lists the store and the registry when built and indexes lazily; build a new one
// after a change.
import { bundledPolicy } from './trust-domains.js';
import type { AuthorizationPolicySpec } from '../api/authorization-policy.js';
import type { ExtensionProvider, MeshConfig } from '../api/mesh-config.js';
import type { Labels } from '../api/common.js';
import type { DestinationRuleSpec } from '../api/destination-rule.js';
import type { PeerAuthenticationSpec } from '../api/peer-authentication.js';
import type { RequestAuthenticationSpec } from '../api/request-authentication.js';
import type { TelemetrySpec } from '../api/telemetry.js';
import type { FileAccessLog } from './access-log-format.js';
import { accessLogsOf, fileLogProviders, Telemetries, type ListenerSide, type ResolvedAccessLog } from './telemetry.js';
import type { VirtualServiceSpec } from '../api/virtual-service.js';
import type { Config, ConfigStore } from './config-store.js';
import { sortByAge } from './config-order.js';
import { DestinationRuleIndex, type ConsolidatedDestinationRule } from './destination-rules.js';
import { mergeGatewayRoutes, type GatewayConfig, type GatewayVirtualHost } from './gateway-routes.js';
import { resolveHttpRoutes, type ResolvedHttpRoutes } from './http-routes.js';
import { resolveL4Routes, type ResolvedL4Routes } from './l4-routes.js';
import { MESH_GATEWAY, resolveHost } from './hosts.js';
import { JWKS_PENDING, jwksSourceKey, type JwksSource, type JwksState } from './jwks.js';
import { ServiceIndex, serviceFromKubernetes, type MeshService } from './mesh-services.js';
import { PeerAuthentications, type EffectiveMtls } from './peer-authentication.js';
import { WorkloadPolicies } from './security-policies.js';
import { resolveProvider, serviceLookup, type ResolvedProvider } from './extension-providers.js';
import { kubernetesEndpoints, serviceEntryEndpoints, servicesFromServiceEntry, type MeshEndpoint, type ServiceEntryConfig } from './service-entries.js';
import type { PodRecord, ServiceRegistry, TlsSecret } from './services.js';
import { scopeImportsVirtualService, scopedServices, SidecarIndex, type ScopedServices, type SidecarConfig, type SidecarScope } from './sidecars.js';
import { destinationsOf, orderedFor, ownerOf, resolveVirtualService, shadowingOf, sidecarHostOwners, type ResolvedVirtualService, type Shadowing } from './virtual-services.js';
import { DEFAULT_EXPORT_TO, type ExportToDefaults } from './visibility.js';

export const DEFAULT_ROOT_NAMESPACE = 'trellis-system';

export interface MeshOptions {
  /** Where mesh-wide DestinationRules and PeerAuthentications live (Istio's root namespace); default trellis-system. */
  rootNamespace?: string;
  /** The cluster domain; default the registry's. */
  domain?: string;
  /** Mesh-wide exportTo defaults per kind; default `*` for each. */
  exportToDefaults?: Partial<ExportToDefaults>;
  /** The pods a ServiceEntry workloadSelector can pick (the registry only indexes pods by IP). */
  pods?: () => readonly PodRecord[];
  /** The SPIFFE trust domain of workload identities; default cluster.local. */
  trustDomain?: string;
  /** meshConfig.trustDomainAliases: identities of these trust domains are treated as the mesh's own in AuthorizationPolicies. */
  trustDomainAliases?: readonly string[];
  /** What the control plane holds of the keys at a jwksUri (src/controllers/jwks-resolver.ts); without it, nothing is ever fetched. */
  jwks?: (source: JwksSource) => JwksState;
  /** The mesh configuration's extension providers (external authorizers of CUSTOM policies). */
  extensionProviders?: readonly ExtensionProvider[];
  /** The mesh configuration's access log settings: default providers, and the built-in `envoy` provider's encoding and format. */
  accessLogs?: Pick<MeshConfig, 'defaultProviders' | 'accessLogEncoding' | 'accessLogFormat'>;
}

export class Mesh {
  readonly rootNamespace: string;
  readonly domain: string;
  readonly trustDomain: string;
  /** The trust domain first, then its aliases (Istio's trust domain bundle). */
  readonly trustDomains: readonly string[];
  readonly exportToDefaults: ExportToDefaults;
  private readonly vsConfigs: Config<VirtualServiceSpec>[];
  private readonly drConfigs: Config<DestinationRuleSpec>[];
  private readonly gwConfigs: GatewayConfig[];
  private readonly seConfigs: ServiceEntryConfig[];
  private readonly paConfigs: Config<PeerAuthenticationSpec>[];
  private readonly apConfigs: Config<AuthorizationPolicySpec>[];
  private readonly raConfigs: Config<RequestAuthenticationSpec>[];
  private readonly scConfigs: SidecarConfig[];
  private readonly telemetryConfigs: Config<TelemetrySpec>[];
  private readonly accessLogCache = new Map<string, ResolvedAccessLog[]>();
  private readonly kubeServices: ReturnType<ServiceRegistry['listServices']>;
  private cache: { vs?: ResolvedVirtualService[]; dr?: DestinationRuleIndex; svc?: ServiceIndex; labelKeys?: ReadonlySet<string>; pa?: PeerAuthentications; providers?: ReadonlyMap<string, ResolvedProvider>; ap?: WorkloadPolicies<AuthorizationPolicySpec>; ra?: WorkloadPolicies<RequestAuthenticationSpec>; sc?: SidecarIndex; telemetries?: Telemetries; logProviders?: ReadonlyMap<string, FileAccessLog | { problem: string }> } = {};
  private readonly sidecarOwners = new Map<string, Map<string, ResolvedVirtualService>>();
  private readonly httpRouteCache = new Map<ResolvedVirtualService, ResolvedHttpRoutes>();
  private readonly l4RouteCache = new Map<ResolvedVirtualService, ResolvedL4Routes>();
  private readonly gatewayRouteCache = new Map<string, GatewayVirtualHost[]>();
  private vsByName?: Map<string, ResolvedVirtualService>;
  private readonly jwksStates = new Map<string, JwksState>();
  /**
   * The hostnames of each endpoint change this snapshot has outlived. A Mesh reads endpoints
   * live from the registry, so an EndpointSlice change need not replace it (MeshSource); what
   * caches endpoints per snapshot asks what moved since it looked (hostsMovedSince).
   */
  private readonly endpointMoves: (readonly string[])[] = [];

  constructor(
    store: ConfigStore,
    private readonly registry: ServiceRegistry,
    private readonly opts: MeshOptions = {},
  ) {
    this.rootNamespace = opts.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
    this.trustDomain = opts.trustDomain ?? 'cluster.local';
    this.trustDomains = [this.trustDomain, ...(opts.trustDomainAliases ?? []).filter((a) => a !== this.trustDomain)];
    this.domain = opts.domain ?? registry.domain;
    this.exportToDefaults = { ...DEFAULT_EXPORT_TO, ...opts.exportToDefaults };
    this.vsConfigs = sortByAge(store.list('VirtualService'));
    this.drConfigs = store.list('DestinationRule');
    this.gwConfigs = sortByAge(store.list('Gateway'));
    this.seConfigs = sortByAge(store.list('ServiceEntry'));
    this.paConfigs = store.list('PeerAuthentication');
    this.apConfigs = store.list('AuthorizationPolicy');
    this.raConfigs = store.list('RequestAuthentication');
    this.scConfigs = store.list('Sidecar');
    this.telemetryConfigs = store.list('Telemetry');
    this.kubeServices = registry.listServices();
  }

  /** A host as written in an object of `namespace`, as an FQDN. */
  resolveHost(host: string, namespace: string): string {
    return resolveHost(host, namespace, this.domain);
  }

  // --- VirtualServices and Gateways

  /** Every VirtualService, resolved, oldest first. */
  virtualServices(): ResolvedVirtualService[] {
    return (this.cache.vs ??= this.vsConfigs.map((c) => resolveVirtualService(c, { domain: this.domain, defaultExportTo: this.exportToDefaults.virtualService })));
  }

  virtualService(namespace: string, name: string): ResolvedVirtualService | undefined {
    this.vsByName ??= new Map(this.virtualServices().map((v) => [`${v.config.namespace}/${v.config.name}`, v]));
    return this.vsByName.get(`${namespace}/${name}`);
  }

  /** A VirtualService's HTTP routes, delegates expanded and destinations resolved: once per snapshot. */
  httpRoutes(vs: ResolvedVirtualService): ResolvedHttpRoutes {
    let routes = this.httpRouteCache.get(vs);
    if (!routes) this.httpRouteCache.set(vs, (routes = resolveHttpRoutes(vs, (ns, name) => this.virtualService(ns, name), this.domain)));
    return routes;
  }

  /** A VirtualService's TLS and TCP routes, destinations resolved: once per snapshot. */
  l4Routes(vs: ResolvedVirtualService): ResolvedL4Routes {
    let routes = this.l4RouteCache.get(vs);
    if (!routes) this.l4RouteCache.set(vs, (routes = resolveL4Routes(vs, this.domain)));
    return routes;
  }

  /** The VirtualServices sidecars in `client` use, in Istio's precedence order. */
  sidecarVirtualServices(client: string): ResolvedVirtualService[] {
    return orderedFor(this.virtualServices(), MESH_GATEWAY, client);
  }

  /**
   * The VirtualService whose routes a sidecar in `client` with `labels` applies to `host`: of those
   * its Sidecar imports, when one applies.
   */
  sidecarVirtualServiceFor(host: string, client: string, labels: Readonly<Labels> = {}): ResolvedVirtualService | undefined {
    const scope = this.sidecarScope(client, labels);
    const key = scope ? `${client} ${scope.ref}` : client;
    let owners = this.sidecarOwners.get(key);
    if (!owners) {
      const vses = scope ? this.virtualServices().filter((vs) => scopeImportsVirtualService(scope, vs)) : this.virtualServices();
      this.sidecarOwners.set(key, (owners = sidecarHostOwners(vses, client)));
    }
    return ownerOf(owners, host);
  }

  // --- Sidecars

  sidecars(): SidecarIndex {
    return (this.cache.sc ??= new SidecarIndex(this.scConfigs, this.rootNamespace));
  }

  /** The Sidecar a sidecar proxy in `namespace` with `labels` sees through; undefined when none applies. */
  sidecarScope(namespace: string, labels: Readonly<Labels>): SidecarScope | undefined {
    return this.sidecars().empty ? undefined : this.sidecars().scopeFor(namespace, labels);
  }

  /** The services sidecars in `namespace` see, one per hostname (Istio's pick for the namespace), before any Sidecar. */
  visibleServices(namespace: string): MeshService[] {
    const index = this.services();
    const out: MeshService[] = [];
    for (const host of index.hostnames()) {
      const s = index.forClient(host, namespace);
      if (s) out.push(s);
    }
    return out.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
  }

  /**
   * What a Sidecar scope imports of `visible` (the services its namespace sees, one per hostname),
   * with the destinations of the VirtualServices it imports.
   */
  sidecarServices(scope: SidecarScope, visible: readonly MeshService[]): ScopedServices {
    const client = scope.namespace;
    const vses = orderedFor(this.virtualServices(), MESH_GATEWAY, client);
    const destinations = (vs: ResolvedVirtualService): string[] => destinationsOf(vs.config, this.domain).map((d) => d.host);
    return scopedServices(scope, visible, vses, destinations, (host) => this.services().forClient(host, client));
  }

  /** Where sidecars take the routes of a host of this VirtualService from another one. */
  shadowing(namespace: string, name: string): Shadowing[] {
    const vs = this.virtualService(namespace, name);
    return vs ? shadowingOf(vs, this.virtualServices()) : [];
  }

  gateways(): GatewayConfig[] {
    return this.gwConfigs;
  }

  /** A Gateway by `namespace/name`. */
  gateway(ref: string): GatewayConfig | undefined {
    return this.gwConfigs.find((g) => `${g.namespace}/${g.name}` === ref);
  }

  /** The merged HTTP virtual hosts a Gateway serves, for gateway proxies in `proxyNamespace` (default: the Gateway's). */
  gatewayRoutes(ref: string, proxyNamespace?: string): GatewayVirtualHost[] {
    const key = `${ref} ${proxyNamespace ?? ''}`;
    let hosts = this.gatewayRouteCache.get(key);
    if (!hosts) {
      const gw = this.gateway(ref);
      hosts = gw ? mergeGatewayRoutes(gw, this.virtualServices(), (vs) => this.httpRoutes(vs).routes, proxyNamespace) : [];
      this.gatewayRouteCache.set(key, hosts);
    }
    return hosts;
  }

  // --- Services and endpoints

  /** Kubernetes Services and ServiceEntry hosts. */
  services(): ServiceIndex {
    if (this.cache.svc) return this.cache.svc;
    const defaults = this.exportToDefaults.service;
    const all: MeshService[] = [...this.kubeServices.map((s) => serviceFromKubernetes(s, defaults)), ...this.seConfigs.flatMap((c) => servicesFromServiceEntry(c, defaults))];
    return (this.cache.svc = new ServiceIndex(all));
  }

  /** The service `host` reaches from `client`: exact hostname, else the most specific wildcard ServiceEntry host. */
  service(host: string, client: string): MeshService | undefined {
    return this.services().resolve(host, client);
  }

  /** A kubernetes.io/tls Secret (gateways' credentialName). */
  tlsSecret(namespace: string, name: string): TlsSecret | undefined {
    return this.registry.secret(namespace, name);
  }

  /** How many endpoint changes this snapshot has outlived: a cache of endpoints built at version v is stale for hostsMovedSince(v). */
  get endpointsVersion(): number {
    return this.endpointMoves.length;
  }

  /** The registry's endpoints of these hostnames changed (MeshSource.endpointsMoved only). */
  noteEndpointsMoved(hosts: readonly string[]): void {
    this.endpointMoves.push(hosts);
  }

  /** The hostnames whose endpoints changed after `version`. */
  hostsMovedSince(version: number): ReadonlySet<string> {
    return new Set(this.endpointMoves.slice(version).flat());
  }

  endpoints(svc: MeshService): MeshEndpoint[] {
    if (svc.source === 'Kubernetes') return kubernetesEndpoints(this.registry.endpoints(svc.namespace, svc.name));
    const se = this.seConfigs.find((c) => c.namespace === svc.namespace && c.name === svc.name);
    return se ? serviceEntryEndpoints(se.spec, svc, this.opts.pods?.() ?? []) : [];
  }

  /**
   * The label keys whose values on a client proxy can change its outbound configuration: those
   * of VirtualService match sourceLabels, of DestinationRule and of Sidecar workloadSelectors. Two sidecars
   * of one namespace that agree on these keys get the same outbound configuration.
   */
  proxyLabelKeys(): ReadonlySet<string> {
    if (this.cache.labelKeys) return this.cache.labelKeys;
    const keys = new Set<string>();
    const add = (labels: Labels | undefined) => Object.keys(labels ?? {}).forEach((k) => keys.add(k));
    for (const { spec } of this.vsConfigs) {
      for (const r of spec.http ?? []) for (const m of r.match ?? []) add(m.sourceLabels);
      for (const r of spec.tls ?? []) for (const m of r.match ?? []) add(m.sourceLabels);
      for (const r of spec.tcp ?? []) for (const m of r.match ?? []) add(m.sourceLabels);
    }
    for (const { spec } of this.drConfigs) add(spec.workloadSelector?.matchLabels);
    for (const k of this.sidecars().selectorKeys()) keys.add(k);
    // A Telemetry's selector decides the access logs of the outbound listeners too.
    for (const k of this.telemetries().labelKeys()) keys.add(k);
    return (this.cache.labelKeys = keys);
  }

  // --- DestinationRules

  destinationRules(): DestinationRuleIndex {
    return (this.cache.dr ??= new DestinationRuleIndex(this.drConfigs, { rootNamespace: this.rootNamespace, domain: this.domain, defaultExportTo: this.exportToDefaults.destinationRule }));
  }

  /** The consolidated DestinationRules (one per workload selector) for `host` from `client`. */
  destinationRulesFor(host: string, client: string): ConsolidatedDestinationRule[] {
    return this.destinationRules().lookup(host, client, this.services().forClient(host, client)?.namespace);
  }

  /** The DestinationRule a proxy in `client` with `labels` applies to traffic for `host`. */
  destinationRuleFor(host: string, client: string, labels: Labels = {}): ConsolidatedDestinationRule | undefined {
    return this.destinationRules().forProxy(host, client, labels, this.services().forClient(host, client)?.namespace);
  }

  // --- PeerAuthentications

  peerAuthentications(): PeerAuthentications {
    return (this.cache.pa ??= new PeerAuthentications(this.paConfigs, this.rootNamespace));
  }

  /**
   * The mutual TLS a workload in `namespace` with `labels` accepts inbound: workload policy over
   * namespace-wide over mesh-wide, UNSET inheriting, PERMISSIVE by default; `ports` are its
   * container ports that the workload policy's portLevelMtls names.
   */
  mtlsFor(namespace: string, labels: Labels): EffectiveMtls {
    return this.peerAuthentications().effectiveMtls(namespace, labels);
  }

  // --- AuthorizationPolicies and RequestAuthentications

  /** The AuthorizationPolicies that apply to a workload in `namespace` with `labels`, oldest first. */
  authorizationPoliciesFor(namespace: string, labels: Labels): Config<AuthorizationPolicySpec>[] {
    return (this.cache.ap ??= new WorkloadPolicies(
      this.apConfigs.map((c) => bundledPolicy(c, this.trustDomains)),
      this.rootNamespace,
    )).forWorkload(namespace, labels);
  }

  /** The RequestAuthentications that apply to a workload in `namespace` with `labels`, oldest first. */
  requestAuthenticationsFor(namespace: string, labels: Labels): Config<RequestAuthenticationSpec>[] {
    return (this.cache.ra ??= new WorkloadPolicies(this.raConfigs, this.rootNamespace)).forWorkload(namespace, labels);
  }

  /**
   * The fetched keys of a jwksUri (or of an issuer's OpenID discovery), read once per snapshot so
   * every proxy translated from it agrees; a change of keys comes with a new Mesh.
   */
  jwks(source: JwksSource): JwksState {
    const key = jwksSourceKey(source);
    let state = this.jwksStates.get(key);
    if (!state) this.jwksStates.set(key, (state = this.opts.jwks?.(source) ?? JWKS_PENDING));
    return state;
  }

  // --- Telemetry (access logs)

  telemetries(): Telemetries {
    return (this.cache.telemetries ??= new Telemetries(this.telemetryConfigs, this.rootNamespace));
  }

  /** The envoyFileAccessLog providers (and the built-in `envoy`) by lower-case name, each usable or with the reason it is not. */
  accessLogProviders(): ReadonlyMap<string, FileAccessLog | { problem: string }> {
    return (this.cache.logProviders ??= fileLogProviders({ extensionProviders: [...(this.opts.extensionProviders ?? [])], ...this.opts.accessLogs }));
  }

  /** The access logs a workload in `namespace` with `labels` writes on its CLIENT (outbound, gateway) or SERVER (inbound) listeners. */
  accessLogsFor(namespace: string, labels: Labels, side: ListenerSide): ResolvedAccessLog[] {
    const applied = this.telemetries().forWorkload(namespace, labels);
    const key = `${side} ${applied.key}`;
    let logs = this.accessLogCache.get(key);
    if (!logs) this.accessLogCache.set(key, (logs = accessLogsOf(applied, side, this.accessLogProviders(), this.opts.accessLogs?.defaultProviders?.accessLogging ?? [])));
    return logs;
  }

  /** The extension providers by name, each usable or with the reason it is not. */
  extensionProviders(): ReadonlyMap<string, ResolvedProvider> {
    if (!this.cache.providers) {
      const lookup = serviceLookup((host) => this.services().byHost(host));
      this.cache.providers = new Map((this.opts.extensionProviders ?? []).map((p) => [p.name, resolveProvider(p, lookup)]));
    }
    return this.cache.providers;
  }
}
