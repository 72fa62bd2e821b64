// Who is calling: a Kubernetes service account token, checked by the API server (TokenReview)
// for an audience (istio-ca), and accepted only as a service account's token. Successful reviews
// are cached until the token expires (capped), so a burst of requests from one pod costs one
// review; refusals are cached for seconds only. The review itself is injectable.
import { createHash } from 'node:crypto';
import { Histogram } from 'prom-client';
import type { Rest } from '../kube/rest.js';
import { ExpiringCache } from '../util/expiring-cache.js';
import { registry } from '../util/metrics.js';

import { CA_AUDIENCE } from '../api/mesh-identity.js';

/** The audience workloads request their token for, as Istio's CA expects. */
export { CA_AUDIENCE };

export interface TokenIdentity {
  namespace: string;
  serviceAccount: string;
  /** The pod a bound token belongs to (TokenReview's extra), when the token names one. */
  podName?: string;
  podUid?: string;
}

/** The caller is not who it needs to be; `reason` says why (never the token). */
export class Unauthenticated extends Error {
  constructor(readonly reason: string) {
    super(`unauthenticated: ${reason}`);
    this.name = 'Unauthenticated';
  }
}

/** TokenReview's status, as the API server returns it. */
export interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  audiences?: string[];
  error?: string;
}

/** Asks whoever decides (the API server) about a token. Rejects only when it cannot answer. */
export type TokenReviewer = (token: string, audiences: string[]) => Promise<TokenReviewStatus>;

/** TokenReview through the API server (needs `create` on tokenreviews.authentication.k8s.io). */
export function tokenReviewVia(rest: Pick<Rest, 'post'>): TokenReviewer {
  return async (token, audiences) => {
    const res = await rest.post<{ status?: TokenReviewStatus }>('/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, audiences },
    });
    return res.status ?? {};
  };
}

/** The buckets of the CA's latencies (its answers and their TokenReviews): its target is 20 ms at the 99th percentile. */
export const CA_LATENCY_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export const tokenReviewSeconds = new Histogram({
  name: 'trellis_token_review_duration_seconds',
  help: 'Time the API server took to review a token the control plane had not cached (TokenReview), by whether it answered.',
  labelNames: ['outcome'] as const,
  buckets: CA_LATENCY_BUCKETS,
  registers: [registry],
});

export interface TokenAuthenticatorOptions {
  /** Longest a successful review is reused (default 600 s; never past the token's exp). */
  maxCacheSeconds?: number;
  /** Successful reviews kept (default 10,000; 0 disables the cache). */
  maxEntries?: number;
  /** How long a refusal is remembered (default 5 s; 0 disables). */
  failureCacheSeconds?: number;
  /** Refusals kept (default 1,000). */
  maxFailureEntries?: number;
  now?: () => number;
}

const SA_PREFIX = 'system:serviceaccount:';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SA_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const MAX_TOKEN_BYTES = 16 * 1024;
const POD_NAME = 'authentication.kubernetes.io/pod-name';
const POD_UID = 'authentication.kubernetes.io/pod-uid';

/**
 * The token's own `exp` (seconds since the epoch), read without verifying anything: only to
 * bound how long a review the API server did is reused.
 */
export function tokenExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' && Number.isFinite(payload.exp) ? payload.exp : undefined;
  } catch {
    return undefined;
  }
}

/** The identity a TokenReview status proves for `audiences`; throws Unauthenticated. */
export function identityOf(status: TokenReviewStatus, audiences: string[]): TokenIdentity {
  if (!status.authenticated) throw new Unauthenticated(`the token was not accepted by the API server${status.error ? `: ${status.error}` : ''}`);
  if (!status.audiences?.some((a) => audiences.includes(a))) throw new Unauthenticated(`the token is not for audience ${audiences.join(' or ')}`);
  const username = status.user?.username ?? '';
  if (!username.startsWith(SA_PREFIX)) throw new Unauthenticated(`the token belongs to ${username || 'an unnamed user'}, not a service account`);
  const parts = username.slice(SA_PREFIX.length).split(':');
  if (parts.length !== 2 || !DNS_LABEL.test(parts[0]) || !SA_NAME.test(parts[1])) throw new Unauthenticated(`the token's user ${username} is not a well-formed service account`);
  const podName = status.user?.extra?.[POD_NAME]?.[0];
  const podUid = status.user?.extra?.[POD_UID]?.[0];
  return { namespace: parts[0], serviceAccount: parts[1], ...(podName ? { podName } : {}), ...(podUid ? { podUid } : {}) };
}

export class TokenAuthenticator {
  private readonly ok: ExpiringCache<TokenIdentity>;
  private readonly refused: ExpiringCache<Unauthenticated>;
  private readonly inflight = new Map<string, Promise<TokenIdentity>>();
  /** Cache keys of tokens bound to each pod (`ns/name`), so a deleted pod's tokens stop working at once. */
  private readonly byPod = new Map<string, Set<string>>();
  /**
   * UIDs of pods deleted lately. The API server caches its own token reviews for seconds, so a
   * review just after a pod is gone may still accept that pod's token: refused here instead.
   */
  private readonly gonePods: ExpiringCache<true>;
  private readonly maxCacheMs: number;
  private readonly failureMs: number;
  private readonly now: () => number;

  constructor(
    private readonly review: TokenReviewer,
    opts: TokenAuthenticatorOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.maxCacheMs = (opts.maxCacheSeconds ?? 600) * 1000;
    this.failureMs = (opts.failureCacheSeconds ?? 5) * 1000;
    this.ok = new ExpiringCache(opts.maxEntries ?? 10_000, this.now);
    this.refused = new ExpiringCache(opts.maxFailureEntries ?? 1000, this.now);
    this.gonePods = new ExpiringCache(opts.maxEntries ?? 10_000, this.now);
  }

  /** An authenticator reviewing tokens with the API server. */
  static forApiServer(rest: Pick<Rest, 'post'>, opts?: TokenAuthenticatorOptions): TokenAuthenticator {
    return new TokenAuthenticator(tokenReviewVia(rest), opts);
  }

  /**
   * The service account (and pod) `token` proves for one of `audiences`. Throws Unauthenticated
   * when it proves nothing; other errors (the API server unreachable) pass through.
   */
  async authenticate(token: string, audiences: string[] = [CA_AUDIENCE]): Promise<TokenIdentity> {
    if (!token) throw new Unauthenticated('no token');
    if (token.length > MAX_TOKEN_BYTES) throw new Unauthenticated(`the token is longer than ${MAX_TOKEN_BYTES} bytes`);
    if (audiences.length === 0) throw new Error('authenticate needs at least one audience');
    const key = createHash('sha256').update(token).update('\0').update([...audiences].sort().join('\0')).digest('base64');
    const cached = this.ok.get(key);
    if (cached) return cached;
    const refusal = this.refused.get(key);
    if (refusal) throw refusal;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.reviewOnce(key, token, audiences).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  /**
   * Forgets the reviews of tokens bound to a pod that is gone: the API server refuses them from
   * then on, and so does the cache instead of honouring them until it expires.
   */
  forgetPod(namespace: string, name: string, uid?: string): void {
    if (uid) this.gonePods.set(uid, true, this.now() + this.maxCacheMs);
    const keys = this.byPod.get(`${namespace}/${name}`);
    if (!keys) return;
    this.byPod.delete(`${namespace}/${name}`);
    for (const k of keys) this.ok.delete(k);
  }

  private rememberPod(pod: string, key: string): void {
    let keys = this.byPod.get(pod);
    if (!keys) this.byPod.set(pod, (keys = new Set()));
    // Tokens rotate: keep only the keys still cached, so a long-lived pod's set stays small.
    for (const k of keys) if (!this.ok.has(k)) keys.delete(k);
    keys.add(key);
  }

  private async reviewOnce(key: string, token: string, audiences: string[]): Promise<TokenIdentity> {
    const timer = tokenReviewSeconds.startTimer();
    const status = await this.review(token, audiences).catch((err: unknown) => {
      timer({ outcome: 'failed' });
      throw err;
    });
    timer({ outcome: 'answered' });
    const now = this.now();
    try {
      const identity = identityOf(status, audiences);
      if (identity.podUid && this.gonePods.has(identity.podUid)) throw new Unauthenticated(`the token is bound to pod ${identity.namespace}/${identity.podName ?? ''}, which was deleted`);
      const exp = tokenExpiry(token);
      this.ok.set(key, identity, Math.min(now + this.maxCacheMs, exp !== undefined ? exp * 1000 : now + this.maxCacheMs));
      if (identity.podName) this.rememberPod(`${identity.namespace}/${identity.podName}`, key);
      return identity;
    } catch (err) {
      if (err instanceof Unauthenticated) this.refused.set(key, err, now + this.failureMs);
      throw err;
    }
  }
}
