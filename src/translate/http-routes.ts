// The model's resolved HTTP routes (model/http-routes.ts) → Envoy routes for one host on one port,
// for one proxy: one Envoy route per applicable match, in order, up to the first that catches
// everything (a route without matches does); the
// action is a redirect, a direct response, or forwarding to one cluster or weighted clusters
// with rewrite, timeout (Istio's default: none), retries, mirrors, fault, CORS, header
// operations and the destination's consistent-hash policy.
import type { Route } from '../xds/generated/envoy/config/route/v3/Route.js';
import type { RouteAction } from '../xds/generated/envoy/config/route/v3/RouteAction.js';
import { isCatchAllMatch } from '../model/gateway-routes.js';
import { MESH_GATEWAY } from '../model/hosts.js';
import { mirrorsOf, type ClusterRef, type HTTPMatchRequest, type ResolvedHttpRoute } from '../model/http-routes.js';
import type { ResolvedVirtualService } from '../model/virtual-services.js';
import { CORS_FILTER, FAULT_FILTER } from './filters.js';
import { routeMatch } from './http-match.js';
import { httpSourceMatches } from './source-match.js';
import { proxyNamespace, type MeshView, type SidecarProxy } from './input.js';
import { clusterName, clusterPort } from './cluster-refs.js';
import { fractionalPercent } from './percent.js';
import { corsConfig, directResponseAction, faultConfig, hashPolicy, headerOps, redirectAction, retryPolicy } from './route-policies.js';
import { clusterPolicy } from './traffic-policy.js';

const NO_TIMEOUT = { seconds: 0, nanos: 0 };

export interface RouteContext {
  mesh: MeshView;
  proxy: SidecarProxy;
  /** The port the traffic arrived on (the listener's). */
  port: number;
  /** What the proxy answers to in a match's `gateways`: `mesh` for a sidecar, the Gateway (`ns/name`) for a gateway proxy. */
  gateways: readonly string[];
}

export const SIDECAR_GATEWAYS: readonly string[] = [MESH_GATEWAY];

/** The default route of a service without VirtualService: everything to its cluster, Istio's retries, no timeout. */
export function defaultRoute(cluster: string, hash: RouteAction['hash_policy'] = []): Route {
  return {
    name: 'default',
    match: { prefix: '/' },
    route: {
      cluster,
      timeout: NO_TIMEOUT,
      retry_policy: retryPolicy(undefined),
      max_grpc_timeout: NO_TIMEOUT,
      ...(hash && hash.length > 0 ? { hash_policy: hash } : {}),
    },
  };
}

const portOf = (ctx: RouteContext, ref: ClusterRef): number => clusterPort(ctx.mesh, proxyNamespace(ctx.proxy), ref, ctx.port);
const clusterOf = (ctx: RouteContext, ref: ClusterRef): string => clusterName(ctx.mesh, proxyNamespace(ctx.proxy), ref, ctx.port);

/** The consistent-hash policy of the DestinationRule of a destination (as the proxy sees it). */
export function hashPolicyFor(ctx: RouteContext, ref: ClusterRef): RouteAction['hash_policy'] {
  const dr = ctx.mesh.destinationRuleFor(ref.host, proxyNamespace(ctx.proxy), { ...ctx.proxy.labels });
  return hashPolicy(clusterPolicy(dr?.spec, portOf(ctx, ref), ref.subset).loadBalancer?.consistentHash);
}

function forwardAction(ctx: RouteContext, r: ResolvedHttpRoute): RouteAction {
  const timeout = r.timeout ?? NO_TIMEOUT;
  // Istio: the grpc-timeout header is honoured up to the route timeout (max_grpc_timeout).
  const action: RouteAction = { timeout, max_grpc_timeout: timeout };
  if (r.targets.length === 1) {
    action.cluster = clusterOf(ctx, r.targets[0].cluster);
  } else {
    action.weighted_clusters = {
      clusters: r.targets.map(({ cluster, weight, headers }) => {
        const ops = { req: headerOps(headers?.request), res: headerOps(headers?.response) };
        return {
          name: clusterOf(ctx, cluster),
          weight: { value: weight },
          ...(ops.req.add.length > 0 ? { request_headers_to_add: ops.req.add } : {}),
          ...(ops.req.remove.length > 0 ? { request_headers_to_remove: ops.req.remove } : {}),
          ...(ops.res.add.length > 0 ? { response_headers_to_add: ops.res.add } : {}),
          ...(ops.res.remove.length > 0 ? { response_headers_to_remove: ops.res.remove } : {}),
        };
      }),
    };
  }
  const retries = retryPolicy(r.retries);
  if (retries) action.retry_policy = retries;
  if (r.rewrite?.uri !== undefined) action.prefix_rewrite = r.rewrite.uri;
  if (r.rewrite?.uriRegexRewrite?.match !== undefined) action.regex_rewrite = { pattern: { regex: r.rewrite.uriRegexRewrite.match }, substitution: r.rewrite.uriRegexRewrite.rewrite ?? '' };
  if (r.rewrite?.authority) action.host_rewrite_literal = r.rewrite.authority;
  const mirrors = mirrorsOf(r);
  if (mirrors.length > 0) {
    action.request_mirror_policies = mirrors.map((m) => ({
      cluster: clusterOf(ctx, m.cluster),
      runtime_fraction: { default_value: fractionalPercent(m.percentage, m.legacyPercent) },
      trace_sampled: { value: false },
    }));
  }
  const hash = hashPolicyFor(ctx, r.targets[0].cluster);
  if (hash && hash.length > 0) action.hash_policy = hash;
  return action;
}

/** The matches of a route that apply to this proxy and port, up to the first that catches everything. */
function applicableMatches(ctx: RouteContext, r: ResolvedHttpRoute): { matches: Array<HTTPMatchRequest | undefined>; catchAll: boolean } {
  if (!r.matches) return { matches: [undefined], catchAll: true };
  const out: HTTPMatchRequest[] = [];
  for (const m of r.matches) {
    if (!httpSourceMatches(m, ctx.proxy, ctx.port, ctx.gateways)) continue;
    out.push(m);
    if (isCatchAllMatch(m)) return { matches: out, catchAll: true };
  }
  return { matches: out, catchAll: false };
}

/** The Envoy routes of one resolved HTTP route (empty when none of its matches applies here). */
export function httpRoutes(ctx: RouteContext, r: ResolvedHttpRoute): Route[] {
  return envoyRoutes(ctx, r, applicableMatches(ctx, r).matches);
}

function envoyRoutes(ctx: RouteContext, r: ResolvedHttpRoute, matches: Array<HTTPMatchRequest | undefined>): Route[] {
  if (matches.length === 0) return [];
  const common: Route = {};
  let headers = r.headers;
  if (r.redirect) common.redirect = redirectAction(r.redirect);
  else if (r.directResponse) common.direct_response = directResponseAction(r.directResponse);
  else {
    if (r.targets.length === 0) return [];
    common.route = forwardAction(ctx, r);
    // A single destination's header operations apply to the route.
    if (r.targets.length === 1) {
      const d = r.targets[0].headers;
      headers = { request: mergeOps(headers?.request, d?.request), response: mergeOps(headers?.response, d?.response) };
    }
  }
  const req = headerOps(headers?.request);
  const res = headerOps(headers?.response);
  if (req.add.length > 0) common.request_headers_to_add = req.add;
  if (req.remove.length > 0) common.request_headers_to_remove = req.remove;
  if (res.add.length > 0) common.response_headers_to_add = res.add;
  if (res.remove.length > 0) common.response_headers_to_remove = res.remove;
  const perFilter: Record<string, ReturnType<typeof corsConfig>> = {};
  const fault = faultConfig(r.fault);
  if (fault) perFilter[FAULT_FILTER] = fault;
  const cors = corsConfig(r.corsPolicy);
  if (cors) perFilter[CORS_FILTER] = cors;
  if (Object.keys(perFilter).length > 0) common.typed_per_filter_config = perFilter as NonNullable<Route['typed_per_filter_config']>;
  return matches.map((m) => {
    // Istio's route name: the route's, then `.` and the match's.
    const name = m?.name ? `${r.name ?? ''}.${m.name}` : r.name;
    return { ...(name ? { name } : {}), match: routeMatch(m), ...common };
  });
}

function mergeOps<T extends { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] }>(a: T | undefined, b: T | undefined): T | undefined {
  if (!a) return b;
  if (!b) return a;
  return { ...a, set: { ...a.set, ...b.set }, add: { ...a.add, ...b.add }, remove: [...(a.remove ?? []), ...(b.remove ?? [])] };
}

/**
 * Every Envoy route of a VirtualService's HTTP section for this proxy and port, up to the first
 * that catches every request: Envoy would never reach the rest, and Istio leaves them out.
 */
export function virtualServiceRoutes(ctx: RouteContext, vs: ResolvedVirtualService): Route[] {
  const out: Route[] = [];
  for (const r of ctx.mesh.httpRoutes(vs).routes) {
    const { matches, catchAll } = applicableMatches(ctx, r);
    out.push(...envoyRoutes(ctx, r, matches));
    if (catchAll) break;
  }
  return out;
}
