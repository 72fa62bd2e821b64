// Warnings about accepted config that a controller can write as a status condition: each names
// the field and says what is wrong, e.g.
//   spec.http[0].route[1].destination.subset: subset "v3" of host reviews.default.svc.cluster.local is defined by no DestinationRule
// Build the Mesh after the config is in the store, so the config is judged among its peers.
import type { AuthorizationPolicySpec } from '../api/authorization-policy.js';
import type { DestinationRuleSpec } from '../api/destination-rule.js';
import type { SidecarSpec } from '../api/sidecar.js';
import type { PeerAuthenticationSpec } from '../api/peer-authentication.js';
import type { RequestAuthenticationSpec } from '../api/request-authentication.js';
import type { ServiceEntrySpec } from '../api/service-entry.js';
import type { TelemetrySpec } from '../api/telemetry.js';
import type { VirtualServiceSpec } from '../api/virtual-service.js';
import type { AnyConfig, Config } from './config-store.js';
import { compareByAge, refString, type ConfigRef } from './config-order.js';
import type { RouteOrigin } from './http-routes.js';
import { intersectHosts, isWildcard, MESH_GATEWAY, serverHostsFor } from './hosts.js';
import { describeJwksSource, jwksSourceOf } from './jwks.js';
import { envoyJwksProblem } from './jwks-keys.js';
import { sameLabels } from './labels.js';
import type { Mesh } from './mesh.js';
import type { MeshService } from './mesh-services.js';
import { isHttp } from './protocol.js';
import { egressListenerAddress, sidecarCannotBind, UNIX_ADDRESS_PREFIX } from './sidecars.js';
import { namespaceWide } from './telemetry.js';
import { destinationsOf, resolveVirtualService, shadowingOf, type ResolvedVirtualService, type Shadowing } from './virtual-services.js';

/**
 * warningsFor, remembered per mesh and object generation. Each status write comes back as a
 * watch event whose status is evaluated again, while neither the object's spec (its generation)
 * nor the mesh changed: a new mesh, after any change, starts afresh.
 */
export function rememberedWarnings(): (config: AnyConfig, mesh: Mesh) => string[] {
  const byMesh = new WeakMap<Mesh, Map<string, string[]>>();
  return (config, mesh) => {
    let known = byMesh.get(mesh);
    if (!known) byMesh.set(mesh, (known = new Map()));
    const key = JSON.stringify([config.kind, config.namespace, config.name, config.generation]);
    let found = known.get(key);
    if (!found) known.set(key, (found = warningsFor(config, mesh)));
    return found;
  };
}

export function warningsFor(config: AnyConfig, mesh: Mesh): string[] {
  switch (config.kind) {
    case 'VirtualService':
      return virtualServiceWarnings(config, mesh);
    case 'DestinationRule':
      return destinationRuleWarnings(config, mesh);
    case 'ServiceEntry':
      return serviceEntryWarnings(config, mesh);
    case 'Gateway':
      return [];
    case 'Sidecar':
      return [...sidecarShadowed(config, mesh), ...sidecarWarnings(config.spec)];
    case 'PeerAuthentication':
      return peerAuthenticationWarnings(config);
    case 'AuthorizationPolicy':
      return authorizationPolicyWarnings(config, mesh);
    case 'RequestAuthentication':
      return requestAuthenticationWarnings(config, mesh);
    case 'Telemetry':
      return telemetryWarnings(config, mesh);
  }
}

/**
 * A provider the mesh configuration does not define (or not as a file access log) logs nothing,
 * as in Istio; and of two namespace-wide Telemetries of a namespace, Istio applies the oldest only.
 */
function telemetryWarnings(config: Config<TelemetrySpec>, mesh: Mesh): string[] {
  const out: string[] = [];
  const providers = mesh.accessLogProviders();
  (config.spec.accessLogging ?? []).forEach((entry, i) =>
    (entry.providers ?? []).forEach((ref, j) => {
      const p = providers.get((ref.name ?? '').toLowerCase());
      const problem = !p ? 'is not a provider of the mesh configuration (extensionProviders) nor the built-in envoy' : 'problem' in p ? p.problem : undefined;
      if (problem) out.push(`spec.accessLogging[${i}].providers[${j}]: ${JSON.stringify(ref.name)} ${problem}: nothing is logged through it`);
    }),
  );
  if (namespaceWide(config.spec)) {
    const first = mesh.telemetries().namespaceWideOf(config.namespace);
    if (first && first.name !== config.name) out.push(`spec: ${config.namespace}/${first.name} is older and also applies to the whole namespace: this Telemetry is ignored (Istio uses the oldest)`);
  }
  return out;
}

/**
 * Keys the control plane cannot fetch: tokens of the rule are refused (401) until it can, or,
 * when a refresh fails, the last good keys stay in use; inline keys Envoy cannot load (its
 * parser is stricter than the webhook's): tokens of the rule are refused. A first fetch still
 * under way says nothing.
 */
function requestAuthenticationWarnings(config: Config<RequestAuthenticationSpec>, mesh: Mesh): string[] {
  const out: string[] = [];
  (config.spec.jwtRules ?? []).forEach((rule, i) => {
    if (rule === null || typeof rule !== 'object') return;
    const tokens = rule.issuer ? `requests with a token of issuer ${rule.issuer}` : 'requests with a token';
    const inlineProblem = rule.jwks ? envoyJwksProblem(rule.jwks) : undefined;
    if (inlineProblem) out.push(`spec.jwtRules[${i}].jwks: Envoy cannot load these keys (${inlineProblem}); ${tokens} are refused (401)`);
    const source = jwksSourceOf(rule);
    if (!source) return;
    const field = `spec.jwtRules[${i}].${source.uri === undefined ? 'issuer' : rule.jwksUri ? 'jwksUri' : 'jwks_uri'}`;
    const what = source.uri === undefined ? `the JWKS of issuer ${source.issuer} (OpenID discovery at ${describeJwksSource(source)})` : `the JWKS from ${source.uri}`;
    const state = mesh.jwks(source);
    if (state.status === 'failed') out.push(`${field}: cannot fetch ${what}: ${state.error}; ${tokens} are refused (401) until it can be fetched`);
    if (state.status === 'ok' && state.refreshError) {
      out.push(`${field}: cannot refresh ${what}: ${state.refreshError}; the keys fetched${state.fetchedAt ? ` at ${state.fetchedAt}` : ' before'} are still in use`);
    }
  });
  return out;
}

/**
 * A CUSTOM policy whose provider cannot be used fails closed (what it selects is denied); say why.
 * A Service target applies only to waypoints, which Trellis does not run.
 */
function authorizationPolicyWarnings(config: Config<AuthorizationPolicySpec>, mesh: Mesh): string[] {
  const out: string[] = [];
  const spec = config.spec;
  if (spec.action === 'CUSTOM') {
    const name = spec.provider?.name ?? '';
    const p = mesh.extensionProviders().get(name);
    const why = !p ? `no extension provider ${JSON.stringify(name)} in the mesh configuration (--mesh-config)` : 'problem' in p ? `extension provider ${JSON.stringify(name)} is unusable: ${p.problem}` : undefined;
    if (why) out.push(`spec.provider.name: ${why}; the requests this policy selects are denied`);
  }
  (spec.targetRefs ?? (spec.targetRef ? [spec.targetRef] : [])).forEach((ref, i) => {
    if ((ref.kind ?? '') === 'Service') out.push(`spec.targetRef${spec.targetRefs ? `s[${i}]` : ''}: a Service target applies to waypoint proxies only; this policy applies to no sidecar or gateway`);
  });
  return out;
}

/** Istio's warning: a selector without labels selects every workload of the namespace. */
function peerAuthenticationWarnings(config: Config<PeerAuthenticationSpec>): string[] {
  const selector = config.spec.selector;
  if (!selector || Object.keys(selector.matchLabels ?? {}).length > 0) return [];
  return ['spec.selector: workload selector specified without labels: the policy is namespace-wide (mesh-wide in the root namespace); omit the selector to say so'];
}

/** A Sidecar that never applies: an older one of its namespace takes every proxy it could. */
function sidecarShadowed(config: Config<SidecarSpec>, mesh: Mesh): string[] {
  const same = mesh.sidecars().inNamespace(config.namespace).filter((c) => c.name !== config.name);
  if (!config.spec.workloadSelector) {
    const older = same.find((c) => !c.spec.workloadSelector && compareByAge(c, config) < 0);
    return older ? [`spec: the older Sidecar ${config.namespace}/${older.name} has no workloadSelector either: only the oldest applies to the namespace's proxies, so this one is ignored`] : [];
  }
  const labels = config.spec.workloadSelector.labels ?? {};
  const older = same.find((c) => c.spec.workloadSelector && compareByAge(c, config) < 0 && sameLabels(c.spec.workloadSelector.labels ?? {}, labels));
  return older ? [`spec.workloadSelector: the older Sidecar ${config.namespace}/${older.name} selects the same labels: it applies to those proxies, so this one is ignored`] : [];
}

/**
 * The parts of a Sidecar Trellis accepts (they are valid) but does not apply yet: said on the
 * object rather than ignored in silence.
 */
function sidecarWarnings(spec: SidecarSpec): string[] {
  const out: string[] = [];
  const unapplied = (path: string, what: string): void => {
    out.push(`${path}: ${what} is not applied by Trellis yet`);
  };
  (spec.egress ?? []).forEach((l, i) => {
    const port = l.port?.number;
    const address = egressListenerAddress({ port, bind: l.bind, captureMode: l.captureMode });
    if (address?.bindToPort && !isLoopback(address.address)) {
      // A listener bound on an address other pods reach (where the port escapes capture) relays
      // their requests with this workload's identity.
      out.push(`spec.egress[${i}].bind: ${address.address} is not a loopback address: where the port is not captured, other pods can call through this listener with the workload's identity`);
    }
    if (address) return;
    if (l.captureMode === 'NONE' && port && sidecarCannotBind(port)) {
      out.push(`spec.egress[${i}].captureMode: the sidecar cannot bind port ${port} (a privileged port or one of its own), so Trellis serves this listener to captured traffic only (Istio leaves it out)`);
    } else if (l.bind?.startsWith(UNIX_ADDRESS_PREFIX)) {
      const protocol = (l.port?.protocol ?? 'TCP').toUpperCase();
      if (!isHttp(protocol)) unapplied(`spec.egress[${i}].bind`, `a ${protocol} egress listener on a Unix domain socket (HTTP ones are served; this one's hosts are served by no listener of it)`);
    } else if (l.bind) {
      // Istio does not validate a port-less listener's bind; Envoy would refuse every listener it reached.
      out.push(`spec.egress[${i}].bind: ${JSON.stringify(l.bind)} is not an IP address, so Trellis binds no listener to it`);
    }
  });
  (spec.ingress ?? []).forEach((l, i) => {
    const port = l.port?.number;
    if (l.captureMode === 'NONE' && port && sidecarCannotBind(port)) {
      out.push(`spec.ingress[${i}].captureMode: the sidecar cannot bind port ${port} (a privileged port or one of its own), so this listener is left out, as Istio does`);
    }
    if (l.captureMode === 'NONE' && l.bind === '0.0.0.0') {
      out.push(`spec.ingress[${i}].bind: ${l.bind} names this listener as the outbound listener of port ${port} is named; where the proxy sees a service on that port the outbound one is kept and this one left out (leave bind empty to bind the pod's address)`);
    }
    // Istio too applies it only with its experimental ENABLE_TLS_ON_SIDECAR_INGRESS (off by default).
    if (l.tls) unapplied(`spec.ingress[${i}].tls`, "TLS termination on an ingress listener (Istio's experimental ENABLE_TLS_ON_SIDECAR_INGRESS)");
  });
  return out;
}

const isLoopback = (ip: string): boolean => ip === '::1' || ip.startsWith('127.');

const list = (items: readonly string[]): string => items.join(', ');

function resolvedInMesh(config: Config<VirtualServiceSpec>, mesh: Mesh): { vs: ResolvedVirtualService; all: ResolvedVirtualService[] } {
  const others = mesh.virtualServices().filter((v) => !(v.config.namespace === config.namespace && v.config.name === config.name));
  const vs = resolveVirtualService(config, { domain: mesh.domain, defaultExportTo: mesh.exportToDefaults.virtualService });
  return { vs, all: [...others, vs] };
}

function shadowMessage(s: Shadowing): string {
  const why = s.reason === 'older' ? `the older VirtualService ${refString(s.by)}` : `VirtualService ${refString(s.by)}, which is exported to that namespace specifically`;
  const named = s.namespaces.length > 0 ? `namespace${s.namespaces.length > 1 ? 's' : ''} ${list(s.namespaces)}` : '';
  const other = s.otherNamespaces ? 'every namespace no exportTo names' : '';
  const where = s.everywhere ? '' : ` in ${[named, other].filter(Boolean).join(' and ')}`;
  return `spec.hosts[${s.hostIndex}]: host ${s.host} is shadowed for sidecars${where} by ${why}; this VirtualService's routes for it are ignored there`;
}

function virtualServiceWarnings(config: Config<VirtualServiceSpec>, mesh: Mesh): string[] {
  const out: string[] = [];
  const ns = config.namespace;
  const { vs, all } = resolvedInMesh(config, mesh);
  const boundToGateway = vs.gateways.some((g) => g !== MESH_GATEWAY);

  vs.gateways.forEach((ref, i) => {
    if (ref === MESH_GATEWAY) return;
    const gw = mesh.gateway(ref);
    if (!gw) {
      out.push(`spec.gateways[${i}]: Gateway ${ref} not found`);
      return;
    }
    vs.hosts.forEach((host, h) => {
      const exposed = (gw.spec.servers ?? []).some((s) => intersectHosts(serverHostsFor(s.hosts ?? [], gw.namespace, ns), [host]).length > 0);
      if (!exposed) out.push(`spec.hosts[${h}]: host ${host} is not exposed by Gateway ${ref} (no server host matches it for namespace ${ns})`);
    });
  });

  for (const s of shadowingOf(vs, all)) out.push(shadowMessage(s));
  out.push(...delegationWarnings(config, mesh));

  for (const d of destinationsOf(config, mesh.domain)) {
    const services: MeshService[] = isWildcard(d.host) ? mesh.services().coveredBy(d.host, ns) : [mesh.service(d.host, ns)].filter((s): s is MeshService => s !== undefined);
    const svc = services.length === 1 ? services[0] : undefined;
    if (services.length === 0) out.push(`${d.path}.host: host ${d.host} matches no Service or ServiceEntry visible in namespace ${ns}`);
    const ports = svc?.ports.map((p) => p.number) ?? [];
    if (svc && d.port !== undefined && ports.length > 0 && !ports.includes(d.port)) {
      out.push(`${d.path}.port.number: port ${d.port} is not a port of host ${d.host} (ports: ${list(ports.map(String))})`);
    }
    if (svc && d.port === undefined && ports.length > 1 && boundToGateway && !d.path.endsWith('.mirror')) {
      out.push(`${d.path}.port: host ${d.host} has several ports (${list(ports.map(String))}); a gateway route must say which one`);
    }
    if (d.subset !== undefined) {
      const drs = mesh.destinationRulesFor(d.host, ns);
      const defined = drs.flatMap((dr) => (dr.spec.subsets ?? []).map((s) => s.name));
      if (!defined.includes(d.subset)) {
        const applies = drs.length > 0 ? ` (DestinationRule ${list(drs.flatMap((dr) => dr.from.map(refString)))} applies to this host and defines ${defined.length > 0 ? list(defined) : 'no subsets'})` : '';
        out.push(`${d.path}.subset: subset "${d.subset}" of host ${d.host} is defined by no DestinationRule${applies}`);
      }
    }
  }
  return [...new Set(out)];
}

const httpPath = (o: RouteOrigin): string => `spec.http[${o.httpIndex}]`;
const routeOf = (o: RouteOrigin): string => `${httpPath(o)} of VirtualService ${refString(o.ref)}`;

/** Delegation that gives nothing, said on the root (its delegate) and on the delegate (its routes). */
function delegationWarnings(config: Config<VirtualServiceSpec>, mesh: Mesh): string[] {
  const mine = (r: ConfigRef): boolean => r.namespace === config.namespace && r.name === config.name;
  const roots = mesh.virtualServices().filter((v) => (v.config.spec.http ?? []).some((r) => r.delegate));
  const out: string[] = [];
  for (const root of roots) {
    for (const p of mesh.httpRoutes(root).problems) {
      if (p.kind === 'not-found' && mine(p.root.ref)) {
        out.push(`${httpPath(p.root)}.delegate: no VirtualService ${refString(p.delegate)} without hosts to delegate to; this route is ignored`);
      } else if (p.kind === 'not-exported' && mine(p.root.ref)) {
        out.push(`${httpPath(p.root)}.delegate: VirtualService ${refString(p.delegate)} is not exported to namespace ${config.namespace}; this route is ignored`);
      } else if (p.kind === 'conflict' && mine(p.delegate.ref)) {
        out.push(`${httpPath(p.delegate)}.match: fits no match of ${routeOf(p.root)}, which delegates to this VirtualService (a delegate may only narrow the root's match); this route is ignored there`);
      } else if (p.kind === 'chained' && mine(p.delegate.ref)) {
        out.push(`${httpPath(p.delegate)}.delegate: a delegate VirtualService cannot delegate again (delegated to by ${routeOf(p.root)}); this route is ignored`);
      }
    }
  }
  return out;
}

function destinationRuleWarnings(config: Config<DestinationRuleSpec>, mesh: Mesh): string[] {
  const out: string[] = [];
  const host = mesh.resolveHost(config.spec.host ?? '', config.namespace);
  if (host && !isWildcard(host) && mesh.services().byHost(host).length === 0 && !mesh.service(host, config.namespace)) {
    out.push(`spec.host: host ${host} matches no Service or ServiceEntry`);
  }
  for (const loss of mesh.destinationRules().losses) {
    if (loss.config.namespace !== config.namespace || loss.config.name !== config.name) continue;
    if (loss.what === 'subset') {
      out.push(`spec.subsets[${loss.index}].name: subset "${loss.subset}" of host ${host} is already defined by the older DestinationRule ${refString(loss.keptFrom)}; this definition is ignored`);
    } else {
      out.push(`spec.trafficPolicy: ignored: the older DestinationRule ${refString(loss.keptFrom)} already sets a top-level trafficPolicy for host ${host} in this namespace`);
    }
  }
  return out;
}

function serviceEntryWarnings(config: Config<ServiceEntrySpec>, mesh: Mesh): string[] {
  const out: string[] = [];
  (config.spec.hosts ?? []).forEach((host, i) => {
    const same = mesh.services().byHost(host);
    const kube = same.filter((s) => s.source === 'Kubernetes');
    if (kube.length > 0) {
      out.push(`spec.hosts[${i}]: host ${host} is the Kubernetes Service ${list(kube.map((s) => `${s.namespace}/${s.name}`))}, which takes precedence over this ServiceEntry`);
      return;
    }
    const me = { namespace: config.namespace, name: config.name, creationTimestamp: config.creationTimestamp };
    const older = same.find((s) => s.source === 'ServiceEntry' && s.namespace === config.namespace && s.name !== config.name && compareByAge(s, me) < 0);
    if (older) out.push(`spec.hosts[${i}]: host ${host} is also defined by the older ServiceEntry ${older.namespace}/${older.name} in this namespace, which takes precedence`);
  });
  return out;
}
