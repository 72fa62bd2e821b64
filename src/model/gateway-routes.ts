// The HTTP routes a Gateway serves, merged from every VirtualService bound to it, as Istio
// documents ("split large virtual services"): for each server port and host, the routes of each
// VirtualService in order (private to the gateway proxy's namespace, exported to it, public;
// oldest first), each VirtualService's own order kept up to its first route that catches
// everything (delegates expanded: model/http-routes.ts), and catch-all routes moved to the end.
import type { GatewaySpec } from '../api/gateway.js';
import type { HTTPMatchRequest, StringMatch } from '../api/types.js';
import type { Config } from './config-store.js';
import { refOf, type ConfigRef } from './config-order.js';
import { intersectHosts, serverHostsFor } from './hosts.js';
import type { ResolvedHttpRoute } from './http-routes.js';
import { orderedFor, type ResolvedVirtualService } from './virtual-services.js';

export type GatewayConfig = Config<GatewaySpec>;

/** One route of a merged virtual host: an HTTP route with one of its matches (or none). */
export interface GatewayRoute {
  /** The VirtualService bound to the gateway (the root, for a delegated route). */
  source: ConfigRef;
  /** Its `spec.http` index (of the delegating route, for a delegated one). */
  httpIndex: number;
  /** Index in `route.matches`, or undefined for a route without matches. */
  matchIndex: number | undefined;
  route: ResolvedHttpRoute;
  match: HTTPMatchRequest | undefined;
  /** Matches every request (path prefix `/` or regex `.*`, no other condition): sorted last. */
  catchAll: boolean;
}

export interface GatewayVirtualHost {
  port: number;
  host: string;
  /** The VirtualServices that contributed, in merge order. */
  virtualServices: ConfigRef[];
  routes: GatewayRoute[];
}

const empty = (o: object | undefined): boolean => !o || Object.keys(o).length === 0;

function uriMatchesAll(uri: StringMatch | undefined): boolean {
  if (!uri) return true;
  if (uri.prefix !== undefined) return uri.prefix === '/';
  if (uri.regex !== undefined) return uri.regex === '.*';
  return uri.exact === undefined;
}

/** Istio's catch-all test, on the API shape: no condition Envoy would check besides path `/`. */
export function isCatchAllMatch(m: HTTPMatchRequest | undefined): boolean {
  if (!m) return true;
  return uriMatchesAll(m.uri) && empty(m.headers) && empty(m.withoutHeaders) && empty(m.queryParams) && !m.method && !m.scheme && !m.authority;
}

/** The routes of one VirtualService for one gateway port, matches that name other gateways or ports left out. */
export function routesForGateway(vs: ResolvedVirtualService, routes: readonly ResolvedHttpRoute[], gateway: string, port: number): GatewayRoute[] {
  const out: GatewayRoute[] = [];
  const source = refOf(vs.config);
  // As Istio, a VirtualService is read up to its first route that catches everything here.
  for (const route of routes) {
    const httpIndex = (route.delegatedBy ?? route.origin).httpIndex;
    const matches = route.matches ?? [];
    if (matches.length === 0) {
      out.push({ source, httpIndex, matchIndex: undefined, route, match: undefined, catchAll: true });
      return out;
    }
    for (const [matchIndex, match] of matches.entries()) {
      const gws = match.gateways ?? [];
      if (gws.length > 0 && !gws.includes(gateway)) continue;
      if (match.port !== undefined && match.port !== 0 && match.port !== port) continue;
      const catchAll = isCatchAllMatch(match);
      out.push({ source, httpIndex, matchIndex, route, match, catchAll });
      if (catchAll) return out;
    }
  }
  return out;
}

/** Moves catch-all routes to the end, keeping the order of the others (Istio's SortVHostRoutes). */
export function sortCatchAllLast(routes: readonly GatewayRoute[]): GatewayRoute[] {
  return [...routes.filter((r) => !r.catchAll), ...routes.filter((r) => r.catchAll)];
}

/**
 * The merged virtual hosts of `gateway`, per server port, for a gateway proxy in `proxyNamespace`
 * (by default the Gateway's own). `vses` may be every VirtualService: the ones bound to this
 * gateway and visible from the proxy's namespace are picked and ordered here; `routesOf` gives
 * each one's HTTP routes, delegates expanded.
 */
export function mergeGatewayRoutes(
  gateway: GatewayConfig,
  vses: readonly ResolvedVirtualService[],
  routesOf: (vs: ResolvedVirtualService) => readonly ResolvedHttpRoute[],
  proxyNamespace = gateway.namespace,
): GatewayVirtualHost[] {
  const name = `${gateway.namespace}/${gateway.name}`;
  const bound = orderedFor(vses, name, proxyNamespace);
  const byPort = new Map<number, Map<string, GatewayVirtualHost>>();
  for (const server of gateway.spec.servers ?? []) {
    const port = server.port?.number;
    if (typeof port !== 'number') continue;
    const vhosts = byPort.get(port) ?? new Map<string, GatewayVirtualHost>();
    byPort.set(port, vhosts);
    for (const vs of bound) {
      const hosts = intersectHosts(serverHostsFor(server.hosts ?? [], gateway.namespace, vs.config.namespace), vs.hosts);
      if (hosts.length === 0) continue;
      const routes = routesForGateway(vs, routesOf(vs), name, port);
      const ref = refOf(vs.config);
      for (const host of hosts) {
        const vh = vhosts.get(host) ?? { port, host, virtualServices: [], routes: [] };
        vhosts.set(host, vh);
        if (vh.virtualServices.some((r) => r.namespace === ref.namespace && r.name === ref.name)) continue;
        vh.virtualServices.push(ref);
        vh.routes.push(...routes);
      }
    }
  }
  const out: GatewayVirtualHost[] = [];
  for (const vhosts of byPort.values()) for (const vh of vhosts.values()) out.push({ ...vh, routes: sortCatchAllLast(vh.routes) });
  return out.sort((a, b) => a.port - b.port || (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}
