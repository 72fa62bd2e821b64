// One AuthorizationPolicy rule as one Envoy RBAC policy, with Istio's semantics:
//   - every `from` is one principal (OR across them), every `to` one permission (OR), and a rule
//     matches when a principal and a permission both do; `when` conditions are ANDed into every
//     principal (source and request attributes) or every permission (destination attributes);
//   - within a field, values are ORed and `not` values are a NOT of their OR; fields are ANDed;
//   - a field Envoy cannot check on a TCP chain (methods, paths, hosts, request principals,
//     headers, JWT claims) drops the whole rule from an ALLOW policy (allowing less) and only
//     that field from a DENY or AUDIT one (denying or auditing more): never fail open.
// Field order follows Istio's, so the output compares with its golden files.
import type { AuthorizationAction, Condition, Rule } from '../api/authorization-policy.js';
import type { Permission } from '../xds/generated/envoy/config/rbac/v3/Permission.js';
import type { Policy } from '../xds/generated/envoy/config/rbac/v3/Policy.js';
import type { Principal } from '../xds/generated/envoy/config/rbac/v3/Principal.js';
import type { StringMatcher } from '../xds/generated/envoy/type/matcher/v3/StringMatcher.js';
import type { ValueMatcher } from '../xds/generated/envoy/type/matcher/v3/ValueMatcher.js';
import {
  andPermissions,
  andPrincipals,
  anyPermission,
  anyPrincipal,
  authenticated,
  cidrRange,
  claimMatcher,
  escapeRegex,
  headerMatcher,
  jwtClaimEquals,
  metadataMatcher,
  notPermission,
  notPrincipal,
  orPermissions,
  orPrincipals,
  orValue,
  pathPermission,
  port,
  regexMatcher,
  SPIFFE_PREFIX,
  stringMatcher,
} from './authz-matchers.js';

/** A field Envoy cannot check on a TCP chain; dropping an ALLOW rule for it is routine, not an error. */
class HttpOnly extends Error {
  constructor(key: string) {
    super(`${key} is HTTP only`);
  }
}

/** Thrown for every HTTP-only field of a TCP chain's ALLOW rule: made once, no stack to capture. */
const HTTP_ONLY = (() => {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new HttpOnly('an HTTP attribute');
  } finally {
    Error.stackTraceLimit = limit;
  }
})();

/** Builds the matcher of one value, or of all values at once (`all`), on one side of the rule. */
interface Attribute {
  side: 'permission' | 'principal';
  httpOnly?: boolean;
  one?: (value: string, key: string) => Permission | Principal;
  all?: (values: readonly string[], key: string) => Permission | Principal;
}

interface Field {
  key: string;
  attr: Attribute;
  values: readonly string[];
  notValues: readonly string[];
}

const principalRegex = (regex: string): Principal => authenticated(regexMatcher(regex));

/** `request.auth.principal` is `<iss>/<sub>`, split at the last slash (the issuer may be a URL). */
function requestPrincipal(value: string): Principal {
  const any = regexMatcher('.+');
  const idx = value.lastIndexOf('/');
  const [iss, sub] = idx >= 0 ? [value.slice(0, idx), value.slice(idx + 1)] : [value, ''];
  let mIss: StringMatcher;
  let mSub: StringMatcher;
  if (value === '*') [mIss, mSub] = [any, any];
  else if (value.startsWith('*')) [mIss, mSub] = idx >= 0 ? [iss === '*' ? any : { suffix: iss.slice(1) }, { exact: sub }] : [any, { suffix: value.slice(1) }];
  else if (value.endsWith('*')) [mIss, mSub] = idx >= 0 ? [{ exact: iss }, sub === '*' ? any : { prefix: sub.slice(0, -1) }] : [{ prefix: value.slice(0, -1) }, any];
  else [mIss, mSub] = [{ exact: iss }, { exact: sub }];
  return andPrincipals([jwtClaimEquals('iss', mIss), jwtClaimEquals('sub', mSub)]);
}

/** `[a][b]` → ['a', 'b'] (the names in brackets after an attribute's prefix). */
function bracketed(rest: string, key: string): string[] {
  const names = [...rest.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]!);
  if (names.length === 0 || names.map((n) => `[${n}]`).join('') !== rest) throw new Error(`${key}: a name in brackets is required`);
  return names;
}

function serviceAccountRegex(defaultNamespace: string, value: string): string {
  const slash = value.indexOf('/');
  const [ns, sa] = slash >= 0 ? [value.slice(0, slash), value.slice(slash + 1)] : [defaultNamespace, value];
  return `spiffe://.+/ns/${escapeRegex(ns)}/(.+/|)sa/${escapeRegex(sa)}(/.+)?`;
}

function trustDomainPrincipal(value: string): Principal {
  if (!value.includes('*')) return authenticated({ prefix: `${SPIFFE_PREFIX}${value}/` });
  return principalRegex(`spiffe://${value.split('*').map(escapeRegex).join('[^/]*')}/.*`);
}

/** A SPIFFE ID without its scheme (`cluster.local/ns/a/sa/b`); a suffix match needs a regex. */
function peerPrincipal(value: string): Principal {
  if (value !== '*' && value.startsWith('*')) return principalRegex(`${SPIFFE_PREFIX}.*${escapeRegex(value.slice(1))}`);
  return authenticated(stringMatcher(value, value === '*' ? '' : SPIFFE_PREFIX));
}

const namespacePrincipal = (value: string): Principal => principalRegex(`.*/ns/${value.split('*').map(escapeRegex).join('.*')}/.*`);

/** The Envoy filter metadata key of `experimental.envoy.filters.a.b[c]`: filter a.b, key c. */
function envoyMetadata(values: readonly string[], key: string): Permission {
  const rest = key.slice('experimental.'.length);
  const open = rest.indexOf('[');
  if (open <= 0 || !rest.endsWith(']')) throw new Error(`${key}: expected experimental.envoy.filters.<filter>[<key>]`);
  const matchers: ValueMatcher[] = values.map((v) =>
    v.startsWith('[') && v.endsWith(']') ? { list_match: { one_of: { string_match: stringMatcher(v.slice(1, -1)) } } } : { string_match: stringMatcher(v) },
  );
  return { metadata: metadataMatcher(rest.slice(0, open), [rest.slice(open + 1, -1)], orValue(matchers)) };
}

const ATTR = {
  host: { side: 'permission', httpOnly: true, one: (v) => ({ header: headerMatcher(':authority', v, true) }) },
  method: { side: 'permission', httpOnly: true, one: (v) => ({ header: headerMatcher(':method', v) }) },
  path: { side: 'permission', httpOnly: true, one: pathPermission },
  destPort: { side: 'permission', one: (v) => ({ destination_port: port(v) }) },
  destIp: { side: 'permission', one: (v) => ({ destination_ip: cidrRange(v) }) },
  sni: { side: 'permission', one: (v) => ({ requested_server_name: stringMatcher(v) }) },
  envoyFilter: { side: 'permission', all: envoyMetadata },
  sourceIp: { side: 'principal', one: (v) => ({ direct_remote_ip: cidrRange(v) }) },
  remoteIp: { side: 'principal', one: (v) => ({ remote_ip: cidrRange(v) }) },
  namespace: { side: 'principal', one: namespacePrincipal },
  principal: { side: 'principal', one: peerPrincipal },
  trustDomain: { side: 'principal', one: trustDomainPrincipal },
  requestPrincipal: { side: 'principal', httpOnly: true, all: (vs) => (vs.length === 1 ? requestPrincipal(vs[0]!) : orPrincipals(vs.map(requestPrincipal))) },
  audiences: { side: 'principal', httpOnly: true, all: (vs) => ({ metadata: claimMatcher(['aud'], vs) }) },
  presenter: { side: 'principal', httpOnly: true, all: (vs) => ({ metadata: claimMatcher(['azp'], vs) }) },
  claims: { side: 'principal', httpOnly: true, all: (vs, k) => ({ metadata: claimMatcher(bracketed(k.slice('request.auth.claims'.length), k), vs) }) },
  header: { side: 'principal', httpOnly: true, one: (v, k) => ({ header: headerMatcher(bracketed(k.slice('request.headers'.length), k)[0]!, v) }) },
} satisfies Record<string, Attribute>;

function serviceAccount(namespace: string): Attribute {
  return { side: 'principal', one: (v) => principalRegex(serviceAccountRegex(namespace, v)) };
}

/** The attribute of a `when` key (validation has already refused unknown keys). */
function conditionAttribute(key: string, policyNamespace: string): Attribute {
  switch (key) {
    case 'destination.ip':
      return ATTR.destIp;
    case 'destination.port':
      return ATTR.destPort;
    case 'connection.sni':
      return ATTR.sni;
    case 'source.ip':
      return ATTR.sourceIp;
    case 'remote.ip':
      return ATTR.remoteIp;
    case 'source.namespace':
      return ATTR.namespace;
    case 'source.principal':
      return ATTR.principal;
    case 'source.serviceAccount':
      return serviceAccount(policyNamespace);
    case 'request.auth.principal':
      return ATTR.requestPrincipal;
    case 'request.auth.audiences':
      return ATTR.audiences;
    case 'request.auth.presenter':
      return ATTR.presenter;
  }
  if (key.startsWith('experimental.envoy.filters.')) return ATTR.envoyFilter;
  if (key.startsWith('request.headers[')) return ATTR.header;
  if (key.startsWith('request.auth.claims[')) return ATTR.claims;
  throw new Error(`unknown attribute ${key}`);
}

const field = (key: string, attr: Attribute, values: readonly string[] | undefined, notValues: readonly string[] | undefined): Field[] =>
  (values?.length ?? 0) + (notValues?.length ?? 0) > 0 ? [{ key, attr, values: values ?? [], notValues: notValues ?? [] }] : [];

/** The principal-side and permission-side fields of a rule, in Istio's order. */
function ruleFields(rule: Rule, policyNamespace: string): { principals: Field[][]; permissions: Field[][] } {
  const basePrincipal: Field[] = [];
  const basePermission: Field[] = [];
  for (const c of rule.when ?? []) {
    const key = (c as Condition).key ?? '';
    const attr = conditionAttribute(key, policyNamespace);
    (attr.side === 'principal' ? basePrincipal : basePermission).push(...field(key, attr, c.values, c.notValues));
  }
  const principals = (rule.from ?? []).map(({ source: s }) => [
    ...field('source.principal', ATTR.trustDomain, s?.trustDomains, s?.notTrustDomains),
    ...field('source.principal', ATTR.principal, s?.principals, s?.notPrincipals),
    ...field('request.auth.principal', ATTR.requestPrincipal, s?.requestPrincipals, s?.notRequestPrincipals),
    ...field('source.serviceAccount', serviceAccount(policyNamespace), s?.serviceAccounts, s?.notServiceAccounts),
    ...field('source.namespace', ATTR.namespace, s?.namespaces, s?.notNamespaces),
    ...field('remote.ip', ATTR.remoteIp, s?.remoteIpBlocks, s?.notRemoteIpBlocks),
    ...field('source.ip', ATTR.sourceIp, s?.ipBlocks, s?.notIpBlocks),
    ...basePrincipal,
  ]);
  const permissions = (rule.to ?? []).map(({ operation: o }) => [
    ...field('hosts', ATTR.host, o?.hosts, o?.notHosts),
    ...field('methods', ATTR.method, o?.methods, o?.notMethods),
    ...field('paths', ATTR.path, o?.paths, o?.notPaths),
    ...field('ports', ATTR.destPort, o?.ports, o?.notPorts),
    ...basePermission,
  ]);
  return { principals: principals.length > 0 ? principals : [basePrincipal], permissions: permissions.length > 0 ? permissions : [basePermission] };
}

/**
 * One field as its matchers: the OR of its values, then the NOT of its not-values' OR. A value
 * Envoy cannot check throws for ALLOW (the caller drops the rule) and is left out otherwise.
 */
function fieldMatchers<T extends Permission | Principal>(f: Field, forTcp: boolean, action: AuthorizationAction, or: (xs: T[]) => T, not: (x: T) => T): T[] {
  const tolerant = action !== 'ALLOW';
  const build = (values: readonly string[]): T | undefined => {
    if (values.length === 0) return undefined;
    try {
      if (forTcp && f.attr.httpOnly) throw HTTP_ONLY;
      if (f.attr.all) return f.attr.all(values, f.key) as T;
      const built: T[] = [];
      for (const v of values) {
        try {
          built.push(f.attr.one!(v, f.key) as T);
        } catch (err) {
          if (!tolerant) throw err;
        }
      }
      return built.length > 0 ? or(built) : undefined;
    } catch (err) {
      if (tolerant) return undefined;
      throw err;
    }
  };
  const yes = build(f.values);
  const no = build(f.notValues);
  return [...(yes ? [yes] : []), ...(no ? [not(no)] : [])];
}

/** The RBAC policy of one rule, or an Error saying why an ALLOW rule cannot apply here. */
export function rulePolicy(rule: Rule, policyNamespace: string, forTcp: boolean, action: AuthorizationAction): Policy | Error {
  try {
    const { principals, permissions } = ruleFields(rule, policyNamespace);
    return {
      permissions: permissions.map((fields) => {
        const and = fields.flatMap((f) => fieldMatchers<Permission>(f, forTcp, action, orPermissions, notPermission));
        return andPermissions(and.length > 0 ? and : [anyPermission()]);
      }),
      principals: principals.map((fields) => {
        const and = fields.flatMap((f) => fieldMatchers<Principal>(f, forTcp, action, orPrincipals, notPrincipal));
        return andPrincipals(and.length > 0 ? and : [anyPrincipal()]);
      }),
    };
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** A policy without rules: it never matches (for ALLOW, nothing is allowed by it). */
export const NEVER_MATCHES: Policy = { permissions: [notPermission(anyPermission())], principals: [notPrincipal(anyPrincipal())] };
