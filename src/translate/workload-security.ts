// The security filters of one workload's proxy, from the policies that apply to it: what its
// HTTP connection managers run before routing (JWT authentication, then authorization) and what
// its TCP chains run before forwarding (authorization). A sidecar applies them to its inbound
// side; a gateway to the servers it exposes.
import type { Filter } from '../xds/generated/envoy/config/listener/v3/Filter.js';
import type { HttpFilter } from '../xds/generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpFilter.js';
import type { Labels } from '../api/common.js';
import { authorizationHttpFilters, authorizationNetworkFilters, inboundAuthorization, NO_INBOUND_AUTHORIZATION } from './authz-chain.js';
import type { MeshView } from './input.js';
import { jwksKey, jwtAuthnFilter } from './jwt-authn.js';
import { once } from './resources.js';

export interface WorkloadSecurity {
  /** Identifies the policies the filters came from (a cache key). */
  readonly key: string;
  /** A gateway's HTTP filters, as Istio builds them. */
  readonly http: readonly HttpFilter[];
  readonly tcp: readonly Filter[];
  /** A sidecar's inbound HTTP filters: JWT and CUSTOM, then the RBAC filters that take their rules per route. */
  readonly inboundHttp: readonly HttpFilter[];
  /** Those rules, for the inbound routes' virtual host (typed_per_filter_config). */
  readonly inboundPerRoute: Readonly<Record<string, { type_url: string; value: Buffer }>>;
}

export const NO_SECURITY: WorkloadSecurity = { key: '', http: [], tcp: [], inboundHttp: NO_INBOUND_AUTHORIZATION.listener, inboundPerRoute: {} };

export function workloadSecurity(mesh: Pick<MeshView, 'authorizationPoliciesFor' | 'requestAuthenticationsFor' | 'jwks' | 'extensionProviders'>, namespace: string, labels: Labels): WorkloadSecurity {
  const policies = mesh.authorizationPoliciesFor(namespace, labels);
  const authns = mesh.requestAuthenticationsFor(namespace, labels);
  if (policies.length === 0 && authns.length === 0) return NO_SECURITY;
  const jwks = (source: Parameters<MeshView['jwks']>[0]) => mesh.jwks(source);
  const providers = policies.some((c) => c.spec.action === 'CUSTOM') ? mesh.extensionProviders() : new Map();
  const identity = (c: (typeof policies)[number] | (typeof authns)[number]) => [c.kind, c.namespace, c.name, c.resourceVersion, c.generation];
  // The filters are built on first read: replicas of one workload share the key, and the inbound
  // side translated for the first one (outbound.ts memoises it by the key) serves the others, so
  // they never build them; only gateways read the gateway form.
  const jwt = once(() => jwtAuthnFilter(authns, jwks));
  const jwtFirst = (filters: readonly HttpFilter[]): HttpFilter[] => [...(jwt() ? [jwt()!] : []), ...filters];
  const inbound = once(() => inboundAuthorization(policies, providers));
  const http = once(() => jwtFirst(authorizationHttpFilters(policies, providers)));
  const tcp = once(() => authorizationNetworkFilters(policies, providers));
  const inboundHttp = once(() => jwtFirst(inbound().listener));
  return {
    // The fetched keys are part of the filter, so a change of keys changes the key too.
    key: JSON.stringify([policies.map(identity), authns.map(identity), jwksKey(authns, jwks), [...providers].map(([name, p]) => [name, 'kind' in p ? p.cluster : p.problem])]),
    // Authentication first: RBAC reads the verified token's claims it writes.
    get http() {
      return http();
    },
    get tcp() {
      return tcp();
    },
    get inboundHttp() {
      return inboundHttp();
    },
    get inboundPerRoute() {
      return inbound().perRoute;
    },
  };
}
