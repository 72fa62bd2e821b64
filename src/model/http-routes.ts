// Each VirtualService's HTTP routes resolved once per configuration change, for sidecars and
// gateways alike. Delegates are expanded with Istio's rules (pilot's merge of root and delegate
// VirtualServices): a root route `{match, delegate}` stands for the delegate's routes, each match
// narrowed by a root match it fits; a delegate route with a match that fits none of the root's is
// dropped; fields the delegate route leaves unset are the root route's; one level deep.
// Destinations become cluster references resolved in the namespace of the VirtualService that
// wrote them (a delegate's in its own, what a delegate route inherits in the root's), gateway
// names in matches become `ns/name`, timeouts are parsed and weights made relative. What depends
// on the proxy (its labels, namespace and port) is left to translation.
import type { Percent, StringMatch } from '../api/common.js';
import type {
  CorsPolicy,
  Destination,
  FaultAbort,
  FaultDelay,
  Headers,
  HTTPDirectResponse,
  HTTPFaultInjection,
  HTTPMatchRequest,
  HTTPRedirect,
  HTTPRetry,
  HTTPRewrite,
  HTTPRoute,
} from '../api/virtual-service.js';
import { parseSecondsNanos, type SecondsNanos } from '../util/duration.js';
import { refOf, type ConfigRef } from './config-order.js';
import { resolveGatewayName, resolveHost } from './hosts.js';
import type { ResolvedVirtualService } from './virtual-services.js';
import { isVisibleTo } from './visibility.js';

// What a resolved route carries as validate() accepted it (matches, retries, fault, CORS, redirect,
// direct response, header operations): translation reads these through the model, not the API.
export type { Labels, Percent, StringMatch } from '../api/common.js';
export type { ConsistentHashLB } from '../api/destination-rule.js';
export type { FaultAbort, HeaderOperations, Headers, HTTPDirectResponse, HTTPMatchRequest, HTTPRedirect, HTTPRewrite } from '../api/virtual-service.js';

/** Retries with their durations parsed (an unparsable one, which validate() refuses, is left out). */
export interface RouteRetries extends Omit<HTTPRetry, 'perTryTimeout' | 'backoff'> {
  perTryTimeout?: SecondsNanos;
  backoff?: SecondsNanos;
}

/** Fault injection with the delay parsed. */
export interface RouteFault {
  delay?: Omit<FaultDelay, 'fixedDelay' | 'exponentialDelay'> & { fixedDelay?: SecondsNanos };
  abort?: FaultAbort;
}

/** A CORS policy with maxAge parsed. */
export interface RouteCors extends Omit<CorsPolicy, 'maxAge'> {
  maxAge?: SecondsNanos;
}

function retriesOf(r: HTTPRetry | undefined): RouteRetries | undefined {
  if (!r) return undefined;
  const { perTryTimeout, backoff, ...rest } = r;
  const out: RouteRetries = { ...rest };
  const perTry = parseSecondsNanos(perTryTimeout);
  const back = parseSecondsNanos(backoff);
  if (perTry) out.perTryTimeout = perTry;
  if (back) out.backoff = back;
  return out;
}

function faultOf(f: HTTPFaultInjection | undefined): RouteFault | undefined {
  if (!f) return undefined;
  const out: RouteFault = {};
  if (f.delay) {
    // exponentialDelay: Istio does not implement it (nor does Trellis).
    const { percentage, percent } = f.delay;
    const fixed = parseSecondsNanos(f.delay.fixedDelay);
    out.delay = { ...(percentage ? { percentage } : {}), ...(percent !== undefined ? { percent } : {}), ...(fixed ? { fixedDelay: fixed } : {}) };
  }
  if (f.abort) out.abort = f.abort;
  return out;
}

function corsOf(c: CorsPolicy | undefined): RouteCors | undefined {
  if (!c) return undefined;
  const { maxAge, ...rest } = c;
  const parsed = parseSecondsNanos(maxAge);
  return parsed ? { ...rest, maxAge: parsed } : rest;
}

/** What a route sends traffic to: `outbound|<port>|<subset>|<host>` once the port is known. */
export interface ClusterRef {
  /** An FQDN (or a ServiceEntry host) as resolved in the namespace of the VirtualService that named it. */
  host: string;
  /** Undefined: the service's only port, else the port the traffic came in on (per proxy). */
  port: number | undefined;
  subset: string | undefined;
}

export interface RouteTarget {
  cluster: ClusterRef;
  /** Relative weight (Istio's: a lone destination takes everything). */
  weight: number;
  headers: Headers | undefined;
}

export interface RouteMirror {
  cluster: ClusterRef;
  percentage: Percent | undefined;
  /** The deprecated integer `mirrorPercent`, when no percentage is given. */
  legacyPercent: number | undefined;
}

/** Every mirror of a route: `mirror` (with its percentage) first, then `mirrors`. */
export function mirrorsOf(r: ResolvedHttpRoute): RouteMirror[] {
  return [...(r.mirror ? [{ cluster: r.mirror, percentage: r.mirrorPercentage, legacyPercent: r.mirrorPercent }] : []), ...(r.mirrors ?? [])];
}

/** Where a route was written: the VirtualService and the index in its `spec.http`. */
export interface RouteOrigin {
  ref: ConfigRef;
  httpIndex: number;
}

/** One HTTP route, ready for any proxy kind. */
export interface ResolvedHttpRoute {
  name: string | undefined;
  /** Undefined: the route matches every request. Gateway names are resolved (`ns/name` or `mesh`). */
  matches: HTTPMatchRequest[] | undefined;
  redirect: HTTPRedirect | undefined;
  directResponse: HTTPDirectResponse | undefined;
  /** The forwarding targets with a positive weight; empty for redirects and direct responses. */
  targets: RouteTarget[];
  timeout: SecondsNanos | undefined;
  retries: RouteRetries | undefined;
  rewrite: HTTPRewrite | undefined;
  /** `mirror`, its `mirrorPercentage` and the deprecated `mirrorPercent` (a delegate inherits each on its own, as Istio). */
  mirror: ClusterRef | undefined;
  mirrorPercentage: Percent | undefined;
  mirrorPercent: number | undefined;
  /** `mirrors`. */
  mirrors: RouteMirror[] | undefined;
  fault: RouteFault | undefined;
  corsPolicy: RouteCors | undefined;
  headers: Headers | undefined;
  /** The route as written: the delegate's route for a delegated one. */
  origin: RouteOrigin;
  /** The root route that delegated it, for a delegated route. */
  delegatedBy: RouteOrigin | undefined;
}

/** Why a delegating route, or one route of its delegate, contributes nothing. */
export type DelegationProblem =
  | { kind: 'not-found'; root: RouteOrigin; delegate: ConfigRef }
  | { kind: 'not-exported'; root: RouteOrigin; delegate: ConfigRef }
  | { kind: 'chained'; root: RouteOrigin; delegate: RouteOrigin }
  | { kind: 'conflict'; root: RouteOrigin; delegate: RouteOrigin };

export interface ResolvedHttpRoutes {
  routes: ResolvedHttpRoute[];
  problems: DelegationProblem[];
}

/** A VirtualService by namespace and name (a root may delegate only to one without hosts). */
export type DelegateLookup = (namespace: string, name: string) => ResolvedVirtualService | undefined;

/** A route's fields as written, resolved in the namespace of their VirtualService. */
interface Written {
  route: HTTPRoute;
  namespace: string;
}

function clusterRef(d: Destination, namespace: string, domain: string): ClusterRef {
  return { host: resolveHost(d.host, namespace, domain), port: d.port?.number, subset: d.subset || undefined };
}

/** A match with its gateway names resolved (`ns/name`, or `mesh`) where it was written. */
export function resolveMatch<M extends { gateways?: string[] }>(m: M, namespace: string): M {
  if (!m.gateways || m.gateways.length === 0) return m;
  return { ...m, gateways: m.gateways.map((g) => resolveGatewayName(g, namespace)) };
}

/** Istio's weights: relative; a lone destination takes all, among several a missing weight is 0. */
export function routeTargets(dests: readonly { destination: Destination; weight?: number; headers?: Headers }[] | undefined, namespace: string, domain: string): RouteTarget[] {
  const all = dests ?? [];
  if (all.length === 1) return [{ cluster: clusterRef(all[0].destination, namespace, domain), weight: 100, headers: all[0].headers }];
  return all.filter((d) => (d.weight ?? 0) > 0).map((d) => ({ cluster: clusterRef(d.destination, namespace, domain), weight: d.weight!, headers: d.headers }));
}

function resolveRoute(w: Written, domain: string, origin: RouteOrigin, delegatedBy?: RouteOrigin): ResolvedHttpRoute {
  const { route: r, namespace } = w;
  return {
    name: r.name || undefined,
    matches: r.match && r.match.length > 0 ? r.match.map((m) => resolveMatch(m, namespace)) : undefined,
    redirect: r.redirect,
    directResponse: r.redirect ? undefined : r.directResponse,
    targets: r.redirect || r.directResponse ? [] : routeTargets(r.route, namespace, domain),
    timeout: parseSecondsNanos(r.timeout),
    retries: retriesOf(r.retries),
    rewrite: r.rewrite,
    mirror: r.mirror ? clusterRef(r.mirror, namespace, domain) : undefined,
    mirrorPercentage: r.mirrorPercentage,
    mirrorPercent: r.mirrorPercent ?? r.mirror_percent ?? undefined,
    mirrors: r.mirrors?.map((m) => ({ cluster: clusterRef(m.destination, namespace, domain), percentage: m.percentage, legacyPercent: undefined })),
    fault: faultOf(r.fault),
    corsPolicy: corsOf(r.corsPolicy),
    headers: r.headers,
    origin,
    delegatedBy,
  };
}

// --- delegation: Istio's match rules ---------------------------------------------------------

/**
 * A delegate's string match must stay inside the root's (Istio's stringMatchConflict): a regex only
 * against nothing, exact under the same exact, prefix or exact under a prefix; anything else, an
 * empty match included, conflicts.
 */
function stringMatchConflict(root: StringMatch | undefined, leaf: StringMatch | undefined): boolean {
  if (!root || !leaf) return false;
  if (root.regex && (leaf.regex || leaf.prefix || leaf.exact)) return true;
  if (leaf.regex && (root.regex || root.prefix || root.exact)) return true;
  if (root.exact) return Boolean(leaf.prefix) || leaf.exact !== root.exact;
  if (root.prefix) {
    if (leaf.prefix) return !leaf.prefix.startsWith(root.prefix);
    if (leaf.exact) return !leaf.exact.startsWith(root.prefix);
  }
  return true;
}

function mapConflict(root: Record<string, StringMatch> | undefined, leaf: Record<string, StringMatch> | undefined): boolean {
  return Object.entries(leaf ?? {}).some(([k, v]) => stringMatchConflict(root?.[k], v));
}

/** Whether a delegate's match asks for something outside the root match (Istio's hasConflict). */
export function matchesConflict(root: HTTPMatchRequest, leaf: HTTPMatchRequest): boolean {
  const pairs: Array<[StringMatch | undefined, StringMatch | undefined]> = [
    [root.uri, leaf.uri],
    [root.scheme, leaf.scheme],
    [root.method, leaf.method],
    [root.authority, leaf.authority],
  ];
  if (pairs.some(([a, b]) => stringMatchConflict(a, b))) return true;
  if (mapConflict(root.headers, leaf.headers) || mapConflict(root.withoutHeaders, leaf.withoutHeaders) || mapConflict(root.queryParams, leaf.queryParams)) return true;
  if (Boolean(root.ignoreUriCase) !== Boolean(leaf.ignoreUriCase)) return true;
  if (root.port && leaf.port && root.port !== leaf.port) return true;
  if (root.sourceNamespace && leaf.sourceNamespace !== root.sourceNamespace) return true;
  if (Object.entries(leaf.sourceLabels ?? {}).some(([k, v]) => root.sourceLabels?.[k] !== undefined && root.sourceLabels[k] !== v)) return true;
  const rootGateways = root.gateways ?? [];
  const leafGateways = leaf.gateways ?? [];
  if (rootGateways.length > 0 && leafGateways.length > 0 && !leafGateways.every((g) => rootGateways.includes(g))) return true;
  return false;
}

const joinNames = (root: string | undefined, leaf: string | undefined): string | undefined => (leaf ? (root ? `${root}-${leaf}` : leaf) : root) || undefined;
const mergeMaps = <T>(root: Record<string, T> | undefined, leaf: Record<string, T> | undefined): Record<string, T> | undefined =>
  root || leaf ? { ...root, ...leaf } : undefined;

/** The delegate's match narrowed by the root's (Istio's mergeHTTPMatchRequest). */
export function mergeMatch(root: HTTPMatchRequest, leaf: HTTPMatchRequest): HTTPMatchRequest {
  const out: HTTPMatchRequest = {
    ...leaf,
    name: joinNames(root.name, leaf.name),
    uri: leaf.uri ?? root.uri,
    scheme: leaf.scheme ?? root.scheme,
    method: leaf.method ?? root.method,
    authority: leaf.authority ?? root.authority,
    headers: mergeMaps(root.headers, leaf.headers),
    withoutHeaders: mergeMaps(root.withoutHeaders, leaf.withoutHeaders),
    queryParams: mergeMaps(root.queryParams, leaf.queryParams),
    port: leaf.port || root.port,
    sourceLabels: mergeMaps(root.sourceLabels, leaf.sourceLabels),
    sourceNamespace: leaf.sourceNamespace || root.sourceNamespace,
    gateways: leaf.gateways && leaf.gateways.length > 0 ? leaf.gateways : root.gateways,
  };
  for (const k of Object.keys(out) as Array<keyof HTTPMatchRequest>) if (out[k] === undefined) delete out[k];
  return out;
}

/** Every delegate match must fit some root match, else the delegate route is dropped ('conflict'). */
function mergeMatches(root: HTTPMatchRequest[] | undefined, leaf: HTTPMatchRequest[] | undefined): HTTPMatchRequest[] | undefined | 'conflict' {
  if (!root || root.length === 0) return leaf;
  if (!leaf || leaf.length === 0) return root;
  const out: HTTPMatchRequest[] = [];
  for (const l of leaf) {
    const fits = root.filter((r) => !matchesConflict(r, l));
    if (fits.length === 0) return 'conflict';
    for (const r of fits) out.push(mergeMatch(r, l));
  }
  return out;
}

/** The delegate route with what it leaves unset taken from the root route (Istio's mergeHTTPRoute). */
function inherit(root: ResolvedHttpRoute, leaf: ResolvedHttpRoute, matches: HTTPMatchRequest[] | undefined): ResolvedHttpRoute {
  return {
    ...leaf,
    name: joinNames(root.name, leaf.name),
    matches,
    rewrite: leaf.rewrite ?? root.rewrite,
    timeout: leaf.timeout ?? root.timeout,
    retries: leaf.retries ?? root.retries,
    fault: leaf.fault ?? root.fault,
    mirror: leaf.mirror ?? root.mirror,
    mirrorPercent: leaf.mirrorPercent ?? root.mirrorPercent,
    mirrorPercentage: leaf.mirrorPercentage ?? root.mirrorPercentage,
    mirrors: leaf.mirrors && leaf.mirrors.length > 0 ? leaf.mirrors : root.mirrors,
    corsPolicy: leaf.corsPolicy ?? root.corsPolicy,
    headers: leaf.headers ?? root.headers,
    delegatedBy: root.origin,
  };
}

/** The HTTP routes of a VirtualService, delegates expanded, and why any delegated route was left out. */
export function resolveHttpRoutes(vs: ResolvedVirtualService, delegates: DelegateLookup, domain: string): ResolvedHttpRoutes {
  const ns = vs.config.namespace;
  const ref = refOf(vs.config);
  const routes: ResolvedHttpRoute[] = [];
  const problems: DelegationProblem[] = [];
  (vs.config.spec.http ?? []).forEach((r, httpIndex) => {
    const origin = { ref, httpIndex };
    if (!r.delegate) {
      routes.push(resolveRoute({ route: r, namespace: ns }, domain, origin));
      return;
    }
    const target = { namespace: r.delegate.namespace || ns, name: r.delegate.name ?? '' };
    const d = delegates(target.namespace, target.name);
    if (!d || (d.config.spec.hosts ?? []).length > 0) {
      problems.push({ kind: 'not-found', root: origin, delegate: target });
      return;
    }
    if (!isVisibleTo(d.visibility, ns)) {
      problems.push({ kind: 'not-exported', root: origin, delegate: target });
      return;
    }
    const root = resolveRoute({ route: { ...r, delegate: undefined }, namespace: ns }, domain, origin);
    (d.config.spec.http ?? []).forEach((dr, i) => {
      const leafOrigin = { ref: refOf(d.config), httpIndex: i };
      // validate() refuses a delegate that delegates again; kept as a defence for a stored one.
      if (dr.delegate) {
        problems.push({ kind: 'chained', root: origin, delegate: leafOrigin });
        return;
      }
      const leaf = resolveRoute({ route: dr, namespace: d.config.namespace }, domain, leafOrigin);
      const matches = mergeMatches(root.matches, leaf.matches);
      if (matches === 'conflict') {
        problems.push({ kind: 'conflict', root: origin, delegate: leafOrigin });
        return;
      }
      routes.push(inherit(root, leaf, matches));
    });
  });
  return { routes, problems };
}
