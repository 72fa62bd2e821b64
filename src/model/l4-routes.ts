// A VirtualService's TLS and TCP routes resolved once per configuration change, like its HTTP
// routes (http-routes.ts): destinations as cluster references resolved in its namespace, gateway
// names in matches resolved, weights relative. Which match applies to a proxy is translation's.
import type { L4MatchAttributes, TLSMatchAttributes } from '../api/virtual-service.js';
import { resolveMatch, routeTargets, type RouteTarget } from './http-routes.js';
import type { ResolvedVirtualService } from './virtual-services.js';

export interface ResolvedTlsRoute {
  /** Where it was written: the index in `spec.tls`. */
  index: number;
  matches: TLSMatchAttributes[];
  targets: RouteTarget[];
}

export interface ResolvedTcpRoute {
  index: number;
  /** Empty: every connection. */
  matches: L4MatchAttributes[];
  targets: RouteTarget[];
}

export interface ResolvedL4Routes {
  tls: ResolvedTlsRoute[];
  tcp: ResolvedTcpRoute[];
}

export function resolveL4Routes(vs: ResolvedVirtualService, domain: string): ResolvedL4Routes {
  const ns = vs.config.namespace;
  const spec = vs.config.spec;
  return {
    tls: (spec.tls ?? []).map((r, index) => ({ index, matches: (r.match ?? []).map((m) => resolveMatch(m, ns)), targets: routeTargets(r.route, ns, domain) })),
    tcp: (spec.tcp ?? []).map((r, index) => ({ index, matches: (r.match ?? []).map((m) => resolveMatch(m, ns)), targets: routeTargets(r.route, ns, domain) })),
  };
}
