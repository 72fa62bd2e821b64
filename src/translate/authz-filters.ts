// The AuthorizationPolicies of a workload as Envoy RBAC filters, in Istio's order and shape: one
// filter per action that has policies — AUDIT (RBAC action LOG), then DENY, then ALLOW — each
// holding one RBAC policy per rule, named `ns[<ns>]-policy[<name>]-rule[<i>]`. Policies annotated
// `istio.io/dry-run: "true"` go to the filter's shadow rules: evaluated and counted, never
// enforced. A workload with an ALLOW filter denies every request none of its rules allows, so
// an ALLOW policy whose rules all drop out (HTTP-only rules on a TCP chain) still yields a
// filter, with no policies: it denies everything.
// HTTP chains get envoy.filters.http.rbac (a denial answers 403 "RBAC: access denied"); TCP
// chains envoy.filters.network.rbac (a denial closes the connection).
//
// CUSTOM policies hand the decision to an external authorizer named in the mesh configuration.
// One whose provider is not configured fails closed, as Istio's does: what it would have sent
// to the authorizer is denied, by an RBAC DENY filter per provider that runs before the others.
import type { AuthorizationAction, AuthorizationPolicySpec } from '../api/authorization-policy.js';
import type { Config } from '../model/config-store.js';
import type { Filter } from '../xds/generated/envoy/config/listener/v3/Filter.js';
import type { Policy } from '../xds/generated/envoy/config/rbac/v3/Policy.js';
import type { HttpFilter } from '../xds/generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpFilter.js';
import { packAny } from '../xds/protos.js';
import { NEVER_MATCHES, rulePolicy } from './authz-rules.js';

export const HTTP_RBAC_FILTER = 'envoy.filters.http.rbac';
export const NETWORK_RBAC_FILTER = 'envoy.filters.network.rbac';
export const HTTP_RBAC_TYPE = 'envoy.extensions.filters.http.rbac.v3.RBAC';
export const NETWORK_RBAC_TYPE = 'envoy.extensions.filters.network.rbac.v3.RBAC';
export const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

export type AuthorizationPolicyConfig = Pick<Config<AuthorizationPolicySpec>, 'namespace' | 'name' | 'annotations' | 'spec'>;

const ENVOY_ACTION = { ALLOW: 'ALLOW', DENY: 'DENY', AUDIT: 'LOG' } as const;
/** The order Istio chains the filters in (CUSTOM, served by ext_authz, comes before them all). */
const ACTIONS = ['AUDIT', 'DENY', 'ALLOW'] as const satisfies readonly AuthorizationAction[];

/** Go's strconv.ParseBool, which Istio reads the annotation with. */
export const isDryRun = (c: Pick<AuthorizationPolicyConfig, 'annotations'>): boolean => ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(c.annotations?.[DRY_RUN_ANNOTATION] ?? '');

export const policyName = (namespace: string, name: string, rule: number): string => `ns[${namespace}]-policy[${name}]-rule[${rule}]`;

/** The RBAC policies of one AuthorizationPolicy, by name. */
export function rbacPolicies(c: AuthorizationPolicyConfig, forTcp: boolean, asAction?: AuthorizationAction): Record<string, Policy> {
  const action = asAction ?? c.spec.action ?? 'ALLOW';
  const rules = c.spec.rules ?? [];
  if (rules.length === 0) return { [policyName(c.namespace, c.name, 0)]: NEVER_MATCHES };
  const out: Record<string, Policy> = {};
  rules.forEach((rule, i) => {
    if (rule === null || typeof rule !== 'object') return;
    const policy = rulePolicy(rule, c.namespace, forTcp, action);
    // An error only drops a rule of an ALLOW policy (less is allowed); see authz-rules.ts.
    if (!(policy instanceof Error)) out[policyName(c.namespace, c.name, i)] = policy;
  });
  return out;
}

export interface RbacConfig {
  rules?: { action: string; policies: Record<string, Policy> };
  shadow_rules?: { action: string; policies: Record<string, Policy> };
  shadow_rules_stat_prefix?: string;
  stat_prefix?: string;
}

/** The RBAC configuration of each action that has policies, in filter order. */
export function rbacConfigs(policies: readonly AuthorizationPolicyConfig[], forTcp: boolean): RbacConfig[] {
  return rbacConfigsByAction(policies, forTcp).map(([, config]) => config);
}

/** rbacConfigs, each with the action whose policies it holds. */
export function rbacConfigsByAction(policies: readonly AuthorizationPolicyConfig[], forTcp: boolean): [(typeof ACTIONS)[number], RbacConfig][] {
  const out: [(typeof ACTIONS)[number], RbacConfig][] = [];
  for (const action of ACTIONS) {
    const mine = policies.filter((c) => (c.spec.action ?? 'ALLOW') === action);
    if (mine.length === 0) continue;
    const merge = (list: readonly AuthorizationPolicyConfig[]): Record<string, Policy> => Object.assign({}, ...list.map((c) => rbacPolicies(c, forTcp)));
    const enforced = mine.filter((c) => !isDryRun(c));
    const shadow = mine.filter(isDryRun);
    const envoyAction = ENVOY_ACTION[action];
    out.push([
      action,
      {
        ...(enforced.length > 0 ? { rules: { action: envoyAction, policies: merge(enforced) } } : {}),
        ...(shadow.length > 0 ? { shadow_rules: { action: envoyAction, policies: merge(shadow) } } : {}),
        shadow_rules_stat_prefix: shadow.length > 0 && action === 'DENY' ? 'istio_dry_run_deny_' : 'istio_dry_run_allow_',
        ...(forTcp ? { stat_prefix: 'tcp.' } : {}),
      },
    ]);
  }
  return out;
}

/**
 * The filters of CUSTOM policies whose provider the mesh does not define: per provider (sorted),
 * an enforcing DENY of everything its policies match, names as Istio writes them.
 */
export function unknownProviderConfigs(policies: readonly AuthorizationPolicyConfig[], forTcp: boolean, known: ReadonlySet<string> = new Set()): RbacConfig[] {
  const byProvider = new Map<string, AuthorizationPolicyConfig[]>();
  for (const c of policies) {
    const provider = c.spec.provider?.name ?? '';
    if (c.spec.action !== 'CUSTOM' || known.has(provider)) continue;
    byProvider.set(provider, [...(byProvider.get(provider) ?? []), c]);
  }
  return [...byProvider.keys()].sort().map((provider) => {
    const policies: Record<string, Policy> = {};
    for (const c of byProvider.get(provider)!) {
      for (const [name, p] of Object.entries(rbacPolicies(c, forTcp, 'DENY'))) policies[`istio-ext-authz-${provider}-${name}-deny-due-to-bad-CUSTOM-action`] = p;
    }
    return { rules: { action: 'DENY', policies }, ...(forTcp ? { stat_prefix: 'tcp.' } : {}) } as RbacConfig;
  });
}

export const httpRbacFilter = (config: RbacConfig): HttpFilter => ({ name: HTTP_RBAC_FILTER, typed_config: packAny(HTTP_RBAC_TYPE, config) });
export const networkRbacFilter = (config: RbacConfig): Filter => ({ name: NETWORK_RBAC_FILTER, typed_config: packAny(NETWORK_RBAC_TYPE, config) });
