// Where a RequestAuthentication rule's signing keys (JWKS) come from when they are not inline,
// and what the control plane knows of them. As Istio (its JwksResolver), Trellis fetches a
// rule's jwksUri itself — or, for a rule with an issuer alone, the jwks_uri its OpenID
// discovery document names — and inlines the keys into the proxies' jwt_authn filter, so no
// proxy needs a route to the key server. The fetching is src/controllers/jwks-resolver.ts; the
// model only reads its answers (MeshOptions.jwks). Pure.
import type { JwtRule, RequestAuthenticationSpec } from '../api/request-authentication.js';
import type { Config } from './config-store.js';
import { parseDurationNs } from '../util/duration.js';

/** The keys at a URL, or those the issuer's OpenID discovery document points to. */
export type JwksSource = { readonly uri: string; readonly issuer?: undefined } | { readonly uri?: undefined; readonly issuer: string };

/**
 * What the control plane holds for a source: keys (maybe with the error of a failing refresh,
 * the keys kept then being the last good ones), nothing yet, or a failure with nothing kept.
 */
export type JwksState =
  | { readonly status: 'ok'; readonly jwks: string; readonly fetchedAt?: string; readonly refreshError?: string }
  | { readonly status: 'pending' }
  | { readonly status: 'failed'; readonly error: string };

export const JWKS_PENDING: JwksState = { status: 'pending' };

/** Istio's default for a rule's `timeout`: how long one fetch of its keys may take. */
export const DEFAULT_JWKS_TIMEOUT_MS = 5000;

/** The rule's jwksUri, under either of the names Istio reads. */
export const jwksUriOf = (rule: JwtRule): string | undefined => rule.jwksUri || rule.jwks_uri || undefined;

/** Where the control plane fetches a rule's keys from; undefined when they are inline (`jwks`). */
export function jwksSourceOf(rule: JwtRule): JwksSource | undefined {
  if (rule.jwks) return undefined;
  const uri = jwksUriOf(rule);
  if (uri) return { uri };
  return rule.issuer ? { issuer: rule.issuer } : undefined;
}

export const jwksSourceKey = (s: JwksSource): string => (s.uri !== undefined ? `uri:${s.uri}` : `issuer:${s.issuer}`);

/** What a source is, for people: its URL, or the issuer's discovery document. */
export const describeJwksSource = (s: JwksSource): string => (s.uri !== undefined ? s.uri : `${s.issuer}/.well-known/openid-configuration`);

function timeoutMsOf(rule: JwtRule): number {
  const ns = rule.timeout === undefined ? undefined : parseDurationNs(rule.timeout.trim());
  return ns === undefined || ns <= 0n ? DEFAULT_JWKS_TIMEOUT_MS : Number(ns / 1_000_000n) || 1;
}

export interface WantedJwks {
  readonly source: JwksSource;
  /** The longest timeout of the rules that use the source. */
  readonly timeoutMs: number;
}

/** Every source the RequestAuthentications use, by jwksSourceKey: what the resolver must keep. */
export function jwksSources(configs: readonly Pick<Config<RequestAuthenticationSpec>, 'spec'>[]): Map<string, WantedJwks> {
  const out = new Map<string, WantedJwks>();
  for (const { spec } of configs) {
    for (const rule of spec.jwtRules ?? []) {
      if (rule === null || typeof rule !== 'object') continue;
      const source = jwksSourceOf(rule);
      if (!source) continue;
      const key = jwksSourceKey(source);
      const timeoutMs = Math.max(timeoutMsOf(rule), out.get(key)?.timeoutMs ?? 0);
      out.set(key, { source, timeoutMs });
    }
  }
  return out;
}
