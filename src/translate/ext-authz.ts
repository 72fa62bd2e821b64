// CUSTOM AuthorizationPolicies: the decision is an external authorizer's (Istio's
// extensionProviders envoyExtAuthzHttp / envoyExtAuthzGrpc in the mesh configuration), made
// by Envoy's ext_authz filter. As Istio does it, per provider: an RBAC filter in shadow mode
// matches the policies' rules and records the matching policy's name in dynamic metadata, and
// the ext_authz filter after it runs only when that name is one of this provider's — so only
// the requests the rules select are sent to the authorizer.
// A provider that is not defined or not usable (model/extension-providers.ts) fails closed:
// authz-filters.ts denies what its policies match.
import type { EnvoyExtAuthzGrpcProvider, EnvoyExtAuthzHttpProvider } from '../api/mesh-config.js';
import type { ResolvedProvider } from '../model/extension-providers.js';
import type { Filter } from '../xds/generated/envoy/config/listener/v3/Filter.js';
import type { StringMatcher } from '../xds/generated/envoy/type/matcher/v3/StringMatcher.js';
import type { HttpFilter } from '../xds/generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpFilter.js';
import { packAny } from '../xds/protos.js';
import { rbacPolicies, type AuthorizationPolicyConfig, HTTP_RBAC_FILTER, HTTP_RBAC_TYPE, NETWORK_RBAC_FILTER, NETWORK_RBAC_TYPE } from './authz-filters.js';
import { duration } from './duration.js';

export const HTTP_EXT_AUTHZ_FILTER = 'envoy.filters.http.ext_authz';
export const NETWORK_EXT_AUTHZ_FILTER = 'envoy.filters.network.ext_authz';
const HTTP_EXT_AUTHZ_TYPE = 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const NETWORK_EXT_AUTHZ_TYPE = 'envoy.extensions.filters.network.ext_authz.v3.ExtAuthz';
const SHADOW_PREFIX = 'istio_ext_authz_';
const DEFAULT_TIMEOUT = { seconds: 600, nanos: 0 };

/** Istio's header pattern: `*x` suffix, `x*` prefix, else exact; header names ignore case. */
const headerPattern = (h: string): StringMatcher => (h.startsWith('*') ? { suffix: h.slice(1), ignore_case: true } : h.endsWith('*') ? { prefix: h.slice(0, -1), ignore_case: true } : { exact: h, ignore_case: true });
const patterns = (hs: readonly string[] | undefined): { patterns: StringMatcher[] } | undefined => (hs && hs.length > 0 ? { patterns: hs.map(headerPattern) } : undefined);

function enabledBy(provider: string, rbacFilter: string): object {
  return { filter: rbacFilter, path: [{ key: `${SHADOW_PREFIX}shadow_effective_policy_id` }], value: { string_match: { prefix: `istio-ext-authz-${provider}` } } };
}

function common(p: EnvoyExtAuthzHttpProvider | EnvoyExtAuthzGrpcProvider): object {
  const body = p.includeRequestBodyInCheck;
  return {
    transport_api_version: 'V3',
    ...(p.failOpen ? { failure_mode_allow: true } : {}),
    status_on_error: { code: Number(p.statusOnError ?? 403) },
    ...(body ? { with_request_body: { max_request_bytes: body.maxRequestBytes ?? 0, allow_partial_message: body.allowPartialMessage ?? false, pack_as_bytes: body.packAsBytes ?? false } } : {}),
  };
}

function grpcService(p: Extract<ResolvedProvider, { kind: string }>): object {
  return { envoy_grpc: { cluster_name: p.cluster, authority: p.host }, timeout: duration(p.config.timeout) ?? DEFAULT_TIMEOUT };
}

function httpExtAuthz(p: Extract<ResolvedProvider, { kind: 'http' }>): object {
  const c = p.config;
  const headersToAdd = Object.entries(c.includeAdditionalHeadersInCheck ?? {}).map(([key, value]) => ({ key, value }));
  return {
    http_service: {
      server_uri: { uri: `http://${p.host}`, cluster: p.cluster, timeout: duration(c.timeout) ?? DEFAULT_TIMEOUT },
      ...(c.pathPrefix ? { path_prefix: c.pathPrefix } : {}),
      ...(headersToAdd.length > 0 ? { authorization_request: { headers_to_add: headersToAdd } } : {}),
      authorization_response: {
        ...(patterns(c.headersToUpstreamOnAllow) ? { allowed_upstream_headers: patterns(c.headersToUpstreamOnAllow) } : {}),
        ...(patterns(c.headersToDownstreamOnDeny) ? { allowed_client_headers: patterns(c.headersToDownstreamOnDeny) } : {}),
        ...(patterns(c.headersToDownstreamOnAllow) ? { allowed_client_headers_on_success: patterns(c.headersToDownstreamOnAllow) } : {}),
      },
    },
    ...(patterns(c.includeRequestHeadersInCheck) ? { allowed_headers: patterns(c.includeRequestHeadersInCheck) } : {}),
    ...common(c),
    filter_enabled_metadata: enabledBy(p.name, HTTP_RBAC_FILTER),
  };
}

/** The shadow RBAC that marks the requests a provider's policies select. */
function shadowRbac(provider: string, policies: readonly AuthorizationPolicyConfig[], forTcp: boolean): object {
  const named: Record<string, unknown> = {};
  for (const c of policies) for (const [name, p] of Object.entries(rbacPolicies(c, forTcp, 'CUSTOM'))) named[`istio-ext-authz-${provider}-${name}`] = p;
  return { shadow_rules: { action: 'DENY', policies: named }, shadow_rules_stat_prefix: SHADOW_PREFIX, ...(forTcp ? { stat_prefix: 'tcp.' } : {}) };
}

const byProvider = (policies: readonly AuthorizationPolicyConfig[], usable: ReadonlyMap<string, Extract<ResolvedProvider, { kind: string }>>): [Extract<ResolvedProvider, { kind: string }>, AuthorizationPolicyConfig[]][] =>
  [...usable.values()]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((p) => [p, policies.filter((c) => c.spec.action === 'CUSTOM' && c.spec.provider?.name === p.name)] as [Extract<ResolvedProvider, { kind: string }>, AuthorizationPolicyConfig[]])
    .filter(([, mine]) => mine.length > 0);

/** The HTTP filters of the CUSTOM policies whose provider is usable: RBAC (shadow) then ext_authz, per provider. */
export function extAuthzHttpFilters(policies: readonly AuthorizationPolicyConfig[], usable: ReadonlyMap<string, Extract<ResolvedProvider, { kind: string }>>): HttpFilter[] {
  return byProvider(policies, usable).flatMap(([p, mine]) => [
    { name: HTTP_RBAC_FILTER, typed_config: packAny(HTTP_RBAC_TYPE, shadowRbac(p.name, mine, false)) },
    {
      name: HTTP_EXT_AUTHZ_FILTER,
      typed_config: packAny(HTTP_EXT_AUTHZ_TYPE, p.kind === 'http' ? httpExtAuthz(p) : { grpc_service: grpcService(p), ...common(p.config), filter_enabled_metadata: enabledBy(p.name, HTTP_RBAC_FILTER) }),
    },
  ]);
}

/** The network filters of the CUSTOM policies on TCP chains: gRPC providers only (Istio ignores HTTP ones there). */
export function extAuthzNetworkFilters(policies: readonly AuthorizationPolicyConfig[], usable: ReadonlyMap<string, Extract<ResolvedProvider, { kind: string }>>): Filter[] {
  return byProvider(policies, usable)
    .filter(([p]) => p.kind === 'grpc')
    .flatMap(([p, mine]) => [
      { name: NETWORK_RBAC_FILTER, typed_config: packAny(NETWORK_RBAC_TYPE, shadowRbac(p.name, mine, true)) },
      {
        name: NETWORK_EXT_AUTHZ_FILTER,
        typed_config: packAny(NETWORK_EXT_AUTHZ_TYPE, {
          stat_prefix: 'tcp.',
          grpc_service: grpcService(p),
          transport_api_version: 'V3',
          ...(p.config.failOpen ? { failure_mode_allow: true } : {}),
          filter_enabled_metadata: enabledBy(p.name, NETWORK_RBAC_FILTER),
        }),
      },
    ]);
}
