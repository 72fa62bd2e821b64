// RequestAuthentication spec (security.istio.io/v1): which end-user credentials (JWTs) a workload
// accepts. A request with an invalid token is refused (401); one without a token passes unless an
// AuthorizationPolicy requires a request principal. Translation: src/translate/jwt-authn.ts.
import type { WorkloadSelector } from './common.js';
import type { PolicyTargetReference } from './authorization-policy.js';

/**
 * Whether a request must carry a token of the rule (Istio's newer `presence`): OPTIONAL (the
 * default: a request without a token passes authentication) or REQUIRED.
 */
export type JwtPresence = 'OPTIONAL' | 'REQUIRED';

export const JWT_PRESENCES: readonly JwtPresence[] = ['OPTIONAL', 'REQUIRED'];

export interface JwtHeader {
  name?: string;
  prefix?: string;
}

export interface ClaimToHeader {
  header?: string;
  claim?: string;
}

export interface JwtRule {
  issuer?: string;
  audiences?: string[];
  jwksUri?: string;
  /** The proto spelling of jwksUri, which Istio's CRD also accepts; prefer jwksUri. */
  jwks_uri?: string;
  /** The JSON Web Key Set inline, as a string (takes precedence over jwksUri). */
  jwks?: string;
  fromHeaders?: JwtHeader[];
  fromParams?: string[];
  fromCookies?: string[];
  outputPayloadToHeader?: string;
  forwardOriginalToken?: boolean;
  outputClaimToHeaders?: ClaimToHeader[];
  /** How long fetching jwksUri may take (a duration); Istio's default is 5 s. */
  timeout?: string;
  /** Claims whose value is a space-separated list, matched per element (besides scope and permission). */
  spaceDelimitedClaims?: string[];
  presence?: JwtPresence;
}

export interface RequestAuthenticationSpec {
  selector?: WorkloadSelector;
  targetRef?: PolicyTargetReference;
  targetRefs?: PolicyTargetReference[];
  jwtRules?: JwtRule[];
}
