// A workload's authorization filters in the order Envoy must run them, as Istio chains them:
// CUSTOM first (per provider: an unusable one denies what its policies match; a usable one runs
// the shadow RBAC and ext_authz pair), then AUDIT, DENY and ALLOW. More than one CUSTOM
// provider on one workload is refused as Istio refuses it by default: all of them fail closed.
import type { Filter } from '../xds/generated/envoy/config/listener/v3/Filter.js';
import type { HttpFilter } from '../xds/generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpFilter.js';
import { httpRbacFilter, networkRbacFilter, rbacConfigs, unknownProviderConfigs, type AuthorizationPolicyConfig } from './authz-filters.js';
import { extAuthzHttpFilters, extAuthzNetworkFilters, type ResolvedProvider } from './ext-authz.js';

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
