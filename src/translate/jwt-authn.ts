// The RequestAuthentications of a workload as Envoy's jwt_authn HTTP filter, in Istio's shape
// (its policy applier): the rules of every policy, sorted by issuer, each a provider named
// `origins-<i>` that takes the token from the rule's headers, parameters and cookies (Envoy's
// default when none: `Authorization: Bearer`, then `access_token`), checks issuer and
// audiences against inline keys, and writes the verified payload to dynamic metadata under
// `payload` — where the RBAC filters read request principals and `request.auth.claims`
// (authz-matchers.ts) — splitting the space-delimited claims (scope, permission and the rule's
// own) so a policy can match one element.
//
// The requirement: a request without a token passes (the AuthorizationPolicy decides), one with
// a token that no provider accepts is refused with 401. One provider: {it OR allow_missing}.
// Several: {P1 OR P2 … OR AND({P1 OR allow_missing}, {P2 OR allow_missing} …)}; the AND makes
// every token present valid, the single providers let tokens of different issuers share a
// location (each provider fails on the other's token). A rule with `presence: REQUIRED` also
// requires its own provider, so a request without its token is refused with 401 too.
//
// Keys fetched by the control plane are inlined as Istio does; while a source cannot be fetched
// (or a rule's own keys are ones Envoy cannot load), the provider gets keys nothing can be
// signed with, so a token of that issuer is refused (401) and requests without a token still
// pass — fail closed, never open, and never a listener Envoy refuses.
import { createHash } from 'node:crypto';
import type { JwtRule, RequestAuthenticationSpec } from '../api/request-authentication.js';
import type { Config } from '../model/config-store.js';
import { describeJwksSource, jwksSourceKey, jwksSourceOf, type JwksSource, type JwksState } from '../model/jwks.js';
import { envoyJwksProblem } from '../model/jwks-keys.js';
import type { JwtAuthentication } from '../xds/generated/envoy/extensions/filters/http/jwt_authn/v3/JwtAuthentication.js';
import type { JwtProvider } from '../xds/generated/envoy/extensions/filters/http/jwt_authn/v3/JwtProvider.js';
import type { JwtRequirement } from '../xds/generated/envoy/extensions/filters/http/jwt_authn/v3/JwtRequirement.js';
import type { HttpFilter } from '../xds/generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpFilter.js';
import { packAny } from '../xds/protos.js';
import { JWT_AUTHN_FILTER, JWT_PAYLOAD_KEY } from './authz-matchers.js';

export const JWT_AUTHN_TYPE = 'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
/** Claims Istio always treats as space-separated lists (OAuth scopes and permissions). */
const SPACE_DELIMITED_CLAIMS = ['permission', 'scope'];
/** The `kid` of the keys that stand in for keys that could not be fetched. */
export const UNAVAILABLE_JWKS_KID = 'trellis-jwks-unavailable';

export type RequestAuthenticationConfig = Pick<Config<RequestAuthenticationSpec>, 'namespace' | 'name' | 'spec'>;
export type JwksLookup = (source: JwksSource) => JwksState;

// P-256 (y² = x³ - 3x + b mod p), for the stand-in key below.
const P256_P = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
const P256_B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  for (let b = base % mod, e = exp; e > 0n; e >>= 1n, b = (b * b) % mod) if (e & 1n) result = (result * b) % mod;
  return result;
}

const coordinate = (v: bigint): string => Buffer.from(v.toString(16).padStart(64, '0'), 'hex').toString('base64url');

/**
 * A key set no token can be verified with: one P-256 public key whose point is hashed from
 * `what` (stable, distinct per source). Nobody knows its private key — that is the discrete
 * logarithm of a hash-chosen point — so no signature verifies, yet Envoy loads it like any key
 * and the listener is accepted: only tokens fail.
 */
export function unavailableJwks(what: string): string {
  for (let i = 0; ; i++) {
    const x = BigInt(`0x${createHash('sha256').update(`trellis: no usable keys for ${what} #${i}`).digest('hex')}`) % P256_P;
    const rhs = (((x * x * x - 3n * x + P256_B) % P256_P) + P256_P) % P256_P;
    // p ≡ 3 (mod 4): the square root, when there is one, is rhs^((p+1)/4).
    const y = modPow(rhs, (P256_P + 1n) / 4n, P256_P);
    if ((y * y) % P256_P !== rhs) continue;
    return JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', kid: UNAVAILABLE_JWKS_KID, alg: 'ES256', use: 'sig', x: coordinate(x), y: coordinate(y) }] });
  }
}

/** Envoy's verdict on a rule's own keys, remembered (the same few key sets come back every push). */
const inlineVerdicts = new Map<string, string | undefined>();
export function inlineJwksProblem(jwks: string): string | undefined {
  if (inlineVerdicts.has(jwks)) return inlineVerdicts.get(jwks);
  const problem = envoyJwksProblem(jwks);
  if (inlineVerdicts.size >= 1024) inlineVerdicts.clear();
  inlineVerdicts.set(jwks, problem);
  return problem;
}

/** The rules of the policies (oldest policy first), sorted by issuer as Istio does, ties kept in order. */
export function jwtRulesOf(configs: readonly RequestAuthenticationConfig[]): JwtRule[] {
  const rules = configs.flatMap((c) => (c.spec.jwtRules ?? []).filter((r): r is JwtRule => r !== null && typeof r === 'object'));
  const issuer = (r: JwtRule): string => r.issuer ?? '';
  return rules.map((rule, i) => ({ rule, i })).sort((a, b) => (issuer(a.rule) < issuer(b.rule) ? -1 : issuer(a.rule) > issuer(b.rule) ? 1 : a.i - b.i)).map((x) => x.rule);
}

/** scope and permission, plus the rule's own, deduplicated and sorted (Istio's order). */
export function spaceDelimitedClaims(rule: JwtRule): string[] {
  return [...new Set([...SPACE_DELIMITED_CLAIMS, ...(rule.spaceDelimitedClaims ?? [])])].sort();
}

/**
 * The keys to inline: the rule's own (when Envoy can load them: keys it cannot would make it
 * refuse the whole listener), the fetched ones, or else keys that verify nothing.
 */
function inlineJwks(rule: JwtRule, jwks: JwksLookup): string {
  if (rule.jwks) return inlineJwksProblem(rule.jwks) ? unavailableJwks(`the inline keys of issuer ${rule.issuer ?? ''}`) : rule.jwks;
  const source = jwksSourceOf(rule);
  if (!source) return unavailableJwks('a rule without keys');
  const state = jwks(source);
  return state.status === 'ok' ? state.jwks : unavailableJwks(describeJwksSource(source));
}

export function jwtProvider(rule: JwtRule, jwks: JwksLookup): JwtProvider {
  const audiences = rule.audiences ?? [];
  const claimToHeaders = rule.outputClaimToHeaders ?? [];
  return {
    issuer: rule.issuer ?? '',
    ...(audiences.length > 0 ? { audiences } : {}),
    local_jwks: { inline_string: inlineJwks(rule, jwks) },
    ...(rule.forwardOriginalToken ? { forward: true } : {}),
    ...((rule.fromHeaders ?? []).length > 0 ? { from_headers: rule.fromHeaders!.map((h) => ({ name: h.name ?? '', value_prefix: h.prefix ?? '' })) } : {}),
    ...((rule.fromParams ?? []).length > 0 ? { from_params: rule.fromParams } : {}),
    ...((rule.fromCookies ?? []).length > 0 ? { from_cookies: rule.fromCookies } : {}),
    ...(rule.outputPayloadToHeader ? { forward_payload_header: rule.outputPayloadToHeader } : {}),
    ...(claimToHeaders.length > 0 ? { claim_to_headers: claimToHeaders.map((c) => ({ header_name: c.header ?? '', claim_name: c.claim ?? '' })) } : {}),
    payload_in_metadata: JWT_PAYLOAD_KEY,
    normalize_payload_in_metadata: { space_delimited_claims: spaceDelimitedClaims(rule) },
  };
}

const provider = (name: string): JwtRequirement => ({ provider_name: name });
const anyOf = (requirements: JwtRequirement[]): JwtRequirement => ({ requires_any: { requirements } });
const allOf = (requirements: JwtRequirement[]): JwtRequirement => ({ requires_all: { requirements } });
/** The provider's token if there is one, else nothing. */
const optional = (name: string): JwtRequirement => anyOf([provider(name), { allow_missing: {} }]);

/** Istio's requirement over the providers, with REQUIRED rules' providers added as musts. */
export function jwtRequirement(names: readonly string[], required: ReadonlySet<string> = new Set()): JwtRequirement {
  const valid = names.length === 1 ? optional(names[0]!) : anyOf([...names.map(provider), allOf(names.map(optional))]);
  const musts = names.filter((n) => required.has(n));
  if (musts.length === 0) return valid;
  // Every provider required: each must verify, which makes every token present valid already.
  if (musts.length === names.length) return musts.length === 1 ? provider(musts[0]!) : allOf(musts.map(provider));
  return allOf([...musts.map(provider), valid]);
}

/** The filter's configuration; undefined when the policies have no rule. */
export function jwtAuthentication(configs: readonly RequestAuthenticationConfig[], jwks: JwksLookup): JwtAuthentication | undefined {
  const rules = jwtRulesOf(configs);
  if (rules.length === 0) return undefined;
  const names = rules.map((_, i) => `origins-${i}`);
  const providers = Object.fromEntries(rules.map((rule, i) => [names[i]!, jwtProvider(rule, jwks)]));
  const required = new Set(names.filter((_, i) => rules[i]!.presence === 'REQUIRED'));
  return {
    rules: [{ match: { prefix: '/' }, requires: jwtRequirement(names, required) }],
    providers,
    // A CORS preflight carries no credentials; it must reach the CORS filter unauthenticated.
    bypass_cors_preflight: true,
  };
}

/** The jwt_authn filter of a workload; undefined when no RequestAuthentication with rules applies. */
export function jwtAuthnFilter(configs: readonly RequestAuthenticationConfig[], jwks: JwksLookup): HttpFilter | undefined {
  const config = jwtAuthentication(configs, jwks);
  return config ? { name: JWT_AUTHN_FILTER, typed_config: packAny(JWT_AUTHN_TYPE, config) } : undefined;
}

/** What of the fetched keys the filter depends on, for a cache key: each source's keys' digest, or "unavailable". */
export function jwksKey(configs: readonly RequestAuthenticationConfig[], jwks: JwksLookup): string[] {
  const out = new Set<string>();
  for (const rule of jwtRulesOf(configs)) {
    const source = rule.jwks ? undefined : jwksSourceOf(rule);
    if (!source) continue;
    const state = jwks(source);
    out.add(`${jwksSourceKey(source)}=${state.status === 'ok' ? createHash('sha256').update(state.jwks).digest('base64url').slice(0, 22) : 'unavailable'}`);
  }
  return [...out].sort();
}
