// The mesh's trust bundle across a root change (pure). When the CA's root changes (a new or
// edited `cacerts`, the self-signed root rotated), workloads hold certificates of the old root
// for as long as those certificates live, and renew onto the new one one by one. Until every
// one has, peers must trust both: the bundle published to every namespace is the current roots
// plus the previous ones, each kept until the longest workload certificate it may have signed
// has expired (the CA never grants longer than --max-workload-cert-ttl), and never past its own
// expiry. The state is a small record (kept in a Secret so every replica and every restart
// publishes the same bundle); everything here only computes on it.
import { X509Certificate } from 'node:crypto';
import { splitPem } from './pem.js';

export interface RetainedRoot {
  pem: string;
  /** Until when it stays trusted (ISO 8601). */
  until: string;
}

export interface TrustState {
  /** The roots the CA signs under now (PEM, one certificate each). */
  current: string[];
  /** Previous roots still trusted, oldest first. */
  retained: RetainedRoot[];
}

/** A certificate's identity: its DER fingerprint (PEM text may differ in line breaks). */
export function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

const normalise = (pem: string): string => `${new X509Certificate(pem).toString().trim()}\n`;

/** The certificates of a PEM bundle, each normalised, duplicates (by DER) dropped. */
export function rootsOf(bundlePem: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const block of splitPem(bundlePem)) {
    const pem = normalise(block);
    const fp = fingerprint(pem);
    if (seen.has(fp)) continue;
    seen.add(fp);
    out.push(pem);
  }
  return out;
}

const expiry = (pem: string): number => new Date(new X509Certificate(pem).validTo).getTime();

/**
 * The state after the CA starts signing under `roots`: roots no longer current are retained
 * until `now + retainMs` (or their own expiry, if sooner); retained roots past their time are
 * dropped, and so is a retained root that is current again.
 */
export function nextTrustState(prev: TrustState | undefined, roots: readonly string[], now: Date, retainMs: number): TrustState {
  const current = rootsOf(roots.join(''));
  const currentFps = new Set(current.map(fingerprint));
  const t = now.getTime();
  const retained = new Map<string, RetainedRoot>();
  for (const r of prev?.retained ?? []) {
    const fp = fingerprint(r.pem);
    if (currentFps.has(fp) || Date.parse(r.until) <= t) continue;
    retained.set(fp, { pem: normalise(r.pem), until: r.until });
  }
  for (const pem of prev?.current ?? []) {
    const fp = fingerprint(pem);
    if (currentFps.has(fp)) continue;
    const until = Math.min(t + retainMs, expiry(pem));
    if (until <= t) continue;
    // A root retained before and current in between: the later deadline counts.
    const earlier = retained.get(fp);
    retained.set(fp, { pem: normalise(pem), until: new Date(Math.max(until, earlier ? Date.parse(earlier.until) : 0)).toISOString() });
  }
  return { current, retained: [...retained.values()].sort((a, b) => Date.parse(a.until) - Date.parse(b.until)) };
}

/** The PEM bundle to publish: the current roots, then the retained ones still in time. */
export function trustBundle(state: TrustState, now: Date, extra: readonly string[] = []): string {
  const t = now.getTime();
  const live = state.retained.filter((r) => Date.parse(r.until) > t && expiry(r.pem) > t).map((r) => r.pem);
  return rootsOf([...state.current, ...extra, ...live].join('')).join('');
}

/** When the next retained root drops out of the bundle after `now` (to publish the smaller bundle then). */
export function nextExpiry(state: TrustState, now: Date): Date | undefined {
  const times = state.retained.map((r) => Math.min(Date.parse(r.until), expiry(r.pem))).filter((t) => t > now.getTime());
  return times.length ? new Date(Math.min(...times)) : undefined;
}

/** Reads a stored state; throws naming what is wrong (a state that cannot be read is not used). */
export function parseTrustState(json: string): TrustState {
  const v = JSON.parse(json) as unknown;
  if (typeof v !== 'object' || v === null) throw new Error('not a JSON object');
  const { current, retained } = v as { current?: unknown; retained?: unknown };
  if (!Array.isArray(current) || !current.every((c) => typeof c === 'string')) throw new Error('current: want a list of PEM certificates');
  if (!Array.isArray(retained)) throw new Error('retained: want a list');
  const rs = retained.map((r: unknown, i) => {
    const { pem, until } = (r ?? {}) as { pem?: unknown; until?: unknown };
    if (typeof pem !== 'string' || typeof until !== 'string' || Number.isNaN(Date.parse(until))) throw new Error(`retained[${i}]: want {pem, until}`);
    return { pem, until };
  });
  for (const pem of [...current, ...rs.map((r) => r.pem)]) {
    const c = new X509Certificate(pem);
    if (!c.ca || !c.verify(c.publicKey)) throw new Error(`certificate with serial ${c.serialNumber} is not a self-signed CA certificate`);
  }
  return { current: current as string[], retained: rs };
}

/** Istio's default: a self-signed root is replaced once less than 20% of its lifetime is left. */
export const DEFAULT_ROOT_GRACE_RATIO = 0.2;

/** Whether a self-signed root is due for rotation: within the last `graceRatio` of its lifetime. */
export function rootRotationDue(root: { validFrom: string; validTo: string }, now: Date, graceRatio = DEFAULT_ROOT_GRACE_RATIO): boolean {
  const from = Date.parse(root.validFrom);
  const to = Date.parse(root.validTo);
  return to - now.getTime() <= (to - from) * graceRatio;
}
