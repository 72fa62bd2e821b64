// Istio's trust domain bundle (meshConfig.trustDomain and trustDomainAliases): a principal
// `<td>/ns/<ns>/sa/<sa>` in an AuthorizationPolicy whose trust domain is the mesh's, one of its
// aliases (a `*suffix` or `prefix*` pattern matching one), or `cluster.local` (which always
// stands for the local trust domain) also matches the same identity in every trust domain of
// the bundle. Applied to `principals`, `notPrincipals` and `source.principal` conditions, in
// Istio's order: the bundle's order, the principal kept as written where its pattern matches a
// member, duplicates dropped. Other principals (`*`, `*/ns/...`, not SPIFFE-shaped, another
// trust domain) are kept as they are.
import type { AuthorizationPolicySpec, Condition, Rule } from '../api/authorization-policy.js';
import type { Config } from './config-store.js';

const LOCAL = 'cluster.local';

/** Whether trust domain `pattern` (maybe `*suffix` or `prefix*`) matches `td`. */
function tdMatches(pattern: string, td: string): boolean {
  if (pattern === td) return true;
  if (pattern.startsWith('*')) return td.endsWith(pattern.slice(1));
  if (pattern.endsWith('*')) return td.startsWith(pattern.slice(0, -1));
  return false;
}

/** One principal as the bundle expands it. */
export function expandPrincipal(principal: string, bundle: readonly string[]): string[] {
  const parts = principal.split('/');
  if (parts.length !== 5 || parts[0] === '*') return [principal];
  const td = parts[0];
  if (td !== LOCAL && !bundle.some((m) => tdMatches(td, m))) return [principal];
  const out: string[] = [];
  for (const m of bundle) {
    // Only a `*suffix` pattern is kept as written for the members it matches (Istio's rule).
    const p = td.startsWith('*') && m.endsWith(td.slice(1)) ? principal : [m, ...parts.slice(1)].join('/');
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

function expandAll(values: string[] | undefined, bundle: readonly string[]): string[] | undefined {
  return values?.flatMap((v) => expandPrincipal(v, bundle));
}

function expandRule(rule: Rule, bundle: readonly string[]): Rule {
  return {
    ...rule,
    from: rule.from?.map((f) => (f.source ? { ...f, source: { ...f.source, principals: expandAll(f.source.principals, bundle), notPrincipals: expandAll(f.source.notPrincipals, bundle) } } : f)),
    when: rule.when?.map((c: Condition) => (c.key === 'source.principal' ? { ...c, values: expandAll(c.values, bundle), notValues: expandAll(c.notValues, bundle) } : c)),
  };
}

/** The policy with its principals expanded over the bundle (`[trustDomain, ...aliases]`). */
export function withTrustDomainBundle(spec: AuthorizationPolicySpec, bundle: readonly string[]): AuthorizationPolicySpec {
  return spec.rules ? { ...spec, rules: spec.rules.map((r) => expandRule(r ?? {}, bundle)) } : spec;
}

const expanded = new WeakMap<object, { key: string; config: Config<AuthorizationPolicySpec> }>();

/**
 * `withTrustDomainBundle` of a stored config, the same object for as long as the config and the
 * bundle are (translations are memoised by the identity of the policies they were made from).
 */
export function bundledPolicy(config: Config<AuthorizationPolicySpec>, bundle: readonly string[]): Config<AuthorizationPolicySpec> {
  const key = bundle.join(' ');
  const known = expanded.get(config);
  if (known?.key === key) return known.config;
  const out = { ...config, spec: withTrustDomainBundle(config.spec, bundle) };
  expanded.set(config, { key, config: out });
  return out;
}
