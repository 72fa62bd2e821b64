// A workload's authorization filters in the order Envoy must run them, as Istio chains them:
// CUSTOM first (per provider: an unusable one denies what its policies match; a usable one runs
// the shadow RBAC and ext_authz pair), then AUDIT, DENY and ALLOW. More than one CUSTOM
// provider on one workload is refused as Istio refuses it by default: all of them fail closed.
//
// A sidecar's inbound HTTP ports take the AUDIT, DENY and ALLOW rules per route instead (RDS),
// in three RBAC filters the listener always has: a policy change is then a route update, which
// Envoy applies to the next request of every open connection, where a listener update would
// only drain them (serving their next request under the old rules). Gateways keep Istio's form.
import type { Filter } from '../xds/generated/envoy/config/listener/v3/Filter.js';
import type { HttpFilter } from '../xds/generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpFilter.js';
import { HTTP_RBAC_TYPE, httpRbacFilter, networkRbacFilter, rbacConfigs, rbacConfigsByAction, unknownProviderConfigs, type AuthorizationPolicyConfig } from './authz-filters.js';
import { packAny } from '../xds/protos.js';
import type { ResolvedProvider } from '../model/extension-providers.js';
import { extAuthzHttpFilters, extAuthzNetworkFilters } from './ext-authz.js';

type Usable = Extract<ResolvedProvider, { kind: string }>;

/** The providers this workload's CUSTOM policies may use (none when they name more than one). */
function usableProviders(policies: readonly AuthorizationPolicyConfig[], providers: ReadonlyMap<string, ResolvedProvider>): Map<string, Usable> {
  const named = new Set(policies.filter((c) => c.spec.action === 'CUSTOM').map((c) => c.spec.provider?.name ?? ''));
  const usable = new Map<string, Usable>();
  if (named.size !== 1) return usable;
  for (const name of named) {
    const p = providers.get(name);
    if (p && 'kind' in p) usable.set(name, p);
  }
  return usable;
}

export function authorizationHttpFilters(policies: readonly AuthorizationPolicyConfig[], providers: ReadonlyMap<string, ResolvedProvider> = new Map()): HttpFilter[] {
  const usable = usableProviders(policies, providers);
  return [
    ...unknownProviderConfigs(policies, false, new Set(usable.keys())).map(httpRbacFilter),
    ...extAuthzHttpFilters(policies, usable),
    ...rbacConfigs(policies, false).map(httpRbacFilter),
  ];
}

export function authorizationNetworkFilters(policies: readonly AuthorizationPolicyConfig[], providers: ReadonlyMap<string, ResolvedProvider> = new Map()): Filter[] {
  const usable = usableProviders(policies, providers);
  return [
    ...unknownProviderConfigs(policies, true, new Set(usable.keys())).map(networkRbacFilter),
    ...extAuthzNetworkFilters(policies, usable),
    ...rbacConfigs(policies, true).map(networkRbacFilter),
  ];
}

const RBAC_PER_ROUTE_TYPE = 'envoy.extensions.filters.http.rbac.v3.RBACPerRoute';

/** The inbound listener's RBAC filters, by action, in Envoy's order; their rules come per route. */
export const INBOUND_RBAC_FILTERS = { AUDIT: 'envoy.filters.http.rbac.audit', DENY: 'envoy.filters.http.rbac.deny', ALLOW: 'envoy.filters.http.rbac.allow' } as const;

/** Without rules an RBAC filter lets everything through: what a route without policies gets. */
const PLACEHOLDERS: HttpFilter[] = Object.values(INBOUND_RBAC_FILTERS).map((name) => ({ name, typed_config: packAny(HTTP_RBAC_TYPE, {}) }));

export interface InboundAuthorization {
  /** JWT-free part of the listener's HTTP filters: CUSTOM ones, then the three RBAC filters. */
  readonly listener: readonly HttpFilter[];
  /** The virtual host's typed_per_filter_config: the rules of each RBAC filter. */
  readonly perRoute: Readonly<Record<string, { type_url: string; value: Buffer }>>;
}

export const NO_INBOUND_AUTHORIZATION: InboundAuthorization = { listener: PLACEHOLDERS, perRoute: {} };

export function inboundAuthorization(policies: readonly AuthorizationPolicyConfig[], providers: ReadonlyMap<string, ResolvedProvider> = new Map()): InboundAuthorization {
  const usable = usableProviders(policies, providers);
  const perRoute: Record<string, { type_url: string; value: Buffer }> = {};
  for (const [action, config] of rbacConfigsByAction(policies, false)) {
    // AUDIT counts what it matched in the proxy's stats: with per-rule stats, Envoy keeps
    // http.<prefix>.rbac.policy.<policy>.allowed for each audited request (its LOG action has
    // no counter of its own).
    const rbac = action === 'AUDIT' ? { ...config, track_per_rule_stats: true } : config;
    perRoute[INBOUND_RBAC_FILTERS[action]] = packAny(RBAC_PER_ROUTE_TYPE, { rbac });
  }
  return {
    listener: [...unknownProviderConfigs(policies, false, new Set(usable.keys())).map(httpRbacFilter), ...extAuthzHttpFilters(policies, usable), ...PLACEHOLDERS],
    perRoute,
  };
}
