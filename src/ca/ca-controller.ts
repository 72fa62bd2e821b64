// The mesh CA while the control plane runs: follows the Secrets `cacerts` (Istio's plug-in CA)
// and `istio-ca-secret` (the self-signed root) in the control plane's namespace, as istiod
// reloads a changed cacerts without a restart, and rotates the self-signed root before it
// expires (Istio: in the last 20% of its lifetime, checked hourly).
//
// A root change is made in two steps, so no workload ever meets a certificate it cannot verify:
//  1. trust first: the new roots join the published bundle (istio-ca-root-cert in every
//     namespace, and the roots 15012 verifies client certificates against) beside the old ones,
//     which stay there until the longest workload certificate they may have signed has expired
//     (trust-bundle.ts; the record is the Secret `trellis-ca-roots`, shared by replicas and
//     restarts);
//  2. after `propagationMs` (the kubelet updates a mounted ConfigMap within about a minute, and
//     each agent pushes the new ROOTCA to its Envoy) the CA signs with the new material and the
//     control plane's own serving certificate on 15012 is reissued from it.
// Fail-closed: a Secret that does not validate is refused with a log line naming it, the key and
// the problem, and the CA keeps signing with what it had. A deleted istio-ca-secret is put back
// from the root in use rather than replaced by a new root.
import { Informer } from '../kube/informer.js';
import { ApiError, type Rest } from '../kube/rest.js';
import { MeshCa } from './authority.js';
import { b64, loadOrCreateCa, pluginCa, PLUGIN_SECRET, readSecret, SELF_SIGNED_SECRET, SELF_SIGNED_SECRET_TYPE, selfSignedCa, warnIfExpiring, type LoadCaOptions, type Secret } from './ca-secret.js';
import { CA_CERT, CA_KEY } from './chain.js';
import { fingerprint, nextExpiry, nextTrustState, parseTrustState, rootRotationDue, rootsOf, trustBundle, type TrustState } from './trust-bundle.js';
import { X509Certificate } from 'node:crypto';
import type { KubeAccess } from '../kube/access.js';

export const TRUST_STATE_SECRET = 'trellis-ca-roots';
export const TRUST_STATE_KEY = 'roots.json';
/** How long new roots are published before the CA signs under them. */
export const DEFAULT_PROPAGATION_MS = 2 * 60_000;
/** Istio's CITADEL_SELF_SIGNED_ROOT_CERT_CHECK_INTERVAL. */
export const DEFAULT_ROTATION_CHECK_MS = 3_600_000;

export interface CaControllerOptions extends LoadCaOptions {
  kc: KubeAccess;
  rest: Pick<Rest, 'get' | 'post' | 'request'>;
  /** How long a root stays trusted after the CA stops signing under it: the longest workload certificate. */
  retainMs: number;
  propagationMs?: number;
  rotationCheckMs?: number;
  /** Fraction of a self-signed root's lifetime left when it is replaced (default 0.2). */
  rotationGraceRatio?: number;
  stateSecretName?: string;
  now?: () => Date;
  /** How a Secret is followed (default: an informer on that one name). */
  watchSecret?: (name: string) => SecretWatch;
}

/** One Secret, followed: its latest copy, and a call on every change. */
export interface SecretWatch {
  on(changed: () => void): void;
  get(): Secret | undefined;
  start(): Promise<void>;
  stop(): void;
}

function informerWatch(o: CaControllerOptions, name: string): SecretWatch {
  const inf = new Informer<Secret>({ kc: o.kc, path: `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/secrets`, fieldSelector: `metadata.name=${name}`, log: o.log });
  return {
    on: (changed) => inf.on((event) => event !== 'resync' && changed()),
    get: () => inf.get(name, o.namespace),
    start: () => inf.start(),
    stop: () => inf.stop(),
  };
}

export interface CaListeners {
  /** The trust bundle to publish changed. */
  onBundle?: (bundlePem: string) => void;
  /** The CA now signs with new material (reissue what it signed for the control plane). */
  onSigning?: (ca: MeshCa) => void;
}

/**
 * How long to keep signing with `current` once `next` has been published: the propagation time,
 * unless workloads trust `next`'s roots already (a new intermediate under the same root) or
 * `current` cannot sign that long (expired, or about to).
 */
export function signingSwitchDelay(current: { notAfter: Date; rootPem: string } | undefined, next: { rootPem: string }, now: Date, propagationMs: number): number {
  if (!current || current.notAfter.getTime() <= now.getTime() + propagationMs) return 0;
  const trusted = new Set(rootsOf(current.rootPem).map(fingerprint));
  if (rootsOf(next.rootPem).every((r) => trusted.has(fingerprint(r)))) return 0;
  return propagationMs;
}

/** Whether two CAs sign alike: the same signing certificate, key and roots. */
const sameCa = (a: MeshCa, b: MeshCa): boolean => a.signingCertPem === b.signingCertPem && a.signingKeyPem === b.signingKeyPem && a.rootPem === b.rootPem;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class CaController {
  private current!: MeshCa;
  /** What the CA switches to once its roots have propagated. */
  private pending: MeshCa | undefined;
  private switchTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private state: TrustState | undefined;
  private published = '';
  private queue: Promise<void> = Promise.resolve();
  private readonly watches = new Map<string, SecretWatch>();
  private readonly pluginName: string;
  private readonly selfName: string;
  private readonly stateName: string;
  private readonly now: () => Date;
  private stopped = false;
  private listeners: CaListeners = {};
  /** The signing certificate last read from (or written to) istio-ca-secret. */
  private selfSignedCert: string | undefined;

  constructor(private readonly o: CaControllerOptions) {
    this.pluginName = o.pluginSecretName ?? PLUGIN_SECRET;
    this.selfName = o.secretName ?? SELF_SIGNED_SECRET;
    this.stateName = o.stateSecretName ?? TRUST_STATE_SECRET;
    this.now = o.now ?? (() => new Date());
  }

  /** The CA signing now. */
  get ca(): MeshCa {
    return this.current;
  }

  /** Signs with whichever CA is current at the time of the call. */
  readonly signer: Pick<MeshCa, 'sign'> = { sign: (...args) => this.current.sign(...args) };

  /** The trust bundle (PEM): every root a workload must trust now. */
  get bundle(): string {
    return this.published;
  }

  /** Loads (or creates) the CA and records its roots; throws when no usable CA is found, as at any start. */
  async load(): Promise<MeshCa> {
    this.current = await loadOrCreateCa(this.o.rest, this.o);
    if (!(await readSecret(this.o.rest, this.o.namespace, this.pluginName))) this.selfSignedCert = this.current.signingCertPem;
    await this.recordRoots(this.current);
    return this.current;
  }

  /** Who hears of changes (set before watch()). */
  listen(listeners: CaListeners): void {
    this.listeners = listeners;
  }

  /** Follows the Secrets from now on; resolves once they are listed. */
  async watch(): Promise<void> {
    for (const name of [this.pluginName, this.selfName, this.stateName]) {
      const w = (this.o.watchSecret ?? ((n: string) => informerWatch(this.o, n)))(name);
      w.on(() => this.enqueue(() => (name === this.stateName ? this.readState() : this.reconcileOrRetry())));
      this.watches.set(name, w);
    }
    await Promise.all([...this.watches.values()].map((w) => w.start()));
    this.enqueue(() => this.reconcileOrRetry());
    this.scheduleTick();
    await this.queue;
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watches.values()) w.stop();
    if (this.switchTimer) clearTimeout(this.switchTimer);
    if (this.tickTimer) clearTimeout(this.tickTimer);
  }

  /** Resolves when the work queued so far is done (tests, and shutdown). */
  settled(): Promise<void> {
    return this.queue;
  }

  /** The periodic check: drop expired roots from the bundle; rotate the self-signed root when due. */
  async check(): Promise<void> {
    this.enqueue(async () => {
      this.publish();
      await this.rotateIfDue();
    });
    return this.queue;
  }

  private enqueue(fn: () => Promise<void> | void): void {
    this.queue = this.queue.then(async () => {
      if (this.stopped) return;
      try {
        await fn();
      } catch (err) {
        this.o.log.error('CA upkeep failed; signing with the current CA', { error: message(err) });
      }
    });
  }

  private scheduleTick(): void {
    if (this.stopped) return;
    const every = this.o.rotationCheckMs ?? DEFAULT_ROTATION_CHECK_MS;
    // Also wake when a retained root runs out, so the bundle shrinks on time.
    const expiry = this.state ? nextExpiry(this.state, this.now()) : undefined;
    const delay = Math.max(1000, Math.min(every, expiry ? expiry.getTime() - this.now().getTime() + 1000 : every));
    this.tickTimer = setTimeout(() => {
      void this.check().finally(() => this.scheduleTick());
    }, delay);
    this.tickTimer.unref();
  }

  private secret(name: string): Secret | undefined {
    return this.watches.get(name)?.get();
  }

  /** The CA the Secrets describe now, or undefined when they must not be used (logged). */
  private async desired(): Promise<MeshCa | undefined> {
    const ns = this.o.namespace;
    const plugin = this.secret(this.pluginName);
    if (plugin) {
      const where = `${ns}/${this.pluginName}`;
      try {
        return await pluginCa(plugin, where, this.o);
      } catch (err) {
        // The message names the Secret, the key and the problem (ca-secret.ts, chain.ts).
        this.o.log.error('refusing the plug-in CA Secret; the CA keeps signing with what it had', { secret: where, error: message(err) });
        return undefined;
      }
    }
    const self = this.secret(this.selfName);
    const where = `${ns}/${this.selfName}`;
    if (self) {
      try {
        const ca = await selfSignedCa(self, where, this.o);
        this.selfSignedCert = ca.signingCertPem;
        return ca;
      } catch (err) {
        this.o.log.error('refusing the self-signed CA Secret; the CA keeps signing with what it had', { secret: where, error: message(err) });
        return undefined;
      }
    }
    const target = this.pending ?? this.current;
    if (target.signingCertPem === this.selfSignedCert) {
      // Deleted: put back the root in use (a new root would be a needless root change).
      await this.storeSelfSigned(target, undefined);
      this.o.log.warn('the self-signed root Secret was deleted; restored it', { secret: where });
      return target;
    }
    // The plug-in CA went away and there is no self-signed root yet: make one, as at a first start.
    this.o.log.info('the plug-in CA Secret is gone; falling back to the self-signed root', { secret: `${ns}/${this.pluginName}` });
    const ca = await loadOrCreateCa(this.o.rest, this.o);
    this.selfSignedCert = ca.signingCertPem;
    return ca;
  }

  /** reconcile(); when the API server fails it, again in 30 s (no event may come to trigger it). */
  private async reconcileOrRetry(): Promise<void> {
    try {
      await this.reconcile();
    } catch (err) {
      this.o.log.error('cannot apply the CA Secrets now; retrying in 30 s, signing with the current CA meanwhile', { error: message(err) });
      const t = setTimeout(() => this.enqueue(() => this.reconcileOrRetry()), 30_000);
      t.unref();
    }
  }

  private async reconcile(): Promise<void> {
    const next = await this.desired();
    if (!next) return;
    const target = this.pending ?? this.current;
    if (sameCa(next, target)) return;
    if (sameCa(next, this.current)) {
      // Back to what signs now before the switch happened: cancel it.
      this.cancelSwitch();
      await this.recordRoots(next);
      return;
    }
    this.o.log.info('the CA material changed; publishing its roots before signing with it', {
      signingCert: new X509Certificate(next.signingCertPem).subject.replace(/\n/g, ', ') || 'empty subject',
      notAfter: next.notAfter.toISOString(),
      roots: rootsOf(next.rootPem).length,
      switchInMs: signingSwitchDelay(this.current, next, this.now(), this.o.propagationMs ?? DEFAULT_PROPAGATION_MS),
    });
    warnIfExpiring(next, `${this.o.namespace}/${this.secret(this.pluginName) ? this.pluginName : this.selfName}`, this.o.log);
    // Recorded and published first: if that fails, nothing has changed and the retry starts over.
    await this.recordRoots(next);
    this.cancelSwitch();
    this.pending = next;
    this.publish();
    const delay = signingSwitchDelay(this.current, next, this.now(), this.o.propagationMs ?? DEFAULT_PROPAGATION_MS);
    const switchTo = (): void => {
      if (this.pending !== next || this.stopped) return;
      this.pending = undefined;
      this.current = next;
      this.o.log.info('signing with the new CA material', { notAfter: next.notAfter.toISOString() });
      this.listeners.onSigning?.(next);
    };
    if (delay === 0) switchTo();
    else {
      this.switchTimer = setTimeout(switchTo, delay);
      this.switchTimer.unref();
    }
  }

  private cancelSwitch(): void {
    if (this.switchTimer) clearTimeout(this.switchTimer);
    this.switchTimer = undefined;
    this.pending = undefined;
  }

  /** Records `ca`'s roots as current in the shared state (the old ones retained) and publishes the bundle. */
  private async recordRoots(ca: MeshCa): Promise<void> {
    const retainMs = this.o.retainMs + (this.o.propagationMs ?? DEFAULT_PROPAGATION_MS);
    for (let attempt = 0; ; attempt++) {
      const stored = await readSecret(this.o.rest, this.o.namespace, this.stateName);
      const prev = this.parse(stored);
      const next = nextTrustState(prev, rootsOf(ca.rootPem), this.now(), retainMs);
      if (prev && JSON.stringify(prev) === JSON.stringify(next)) {
        this.state = prev;
        break;
      }
      try {
        await this.writeState(next, stored);
        this.state = next;
        break;
      } catch (err) {
        // Another replica wrote it meanwhile: read it again and merge onto that.
        if (err instanceof ApiError && err.status === 409 && attempt < 5) continue;
        throw err;
      }
    }
    this.publish();
  }

  private parse(stored: Secret | undefined): TrustState | undefined {
    const raw = stored?.data?.[TRUST_STATE_KEY];
    if (!raw) return undefined;
    try {
      return parseTrustState(Buffer.from(raw, 'base64').toString('utf8'));
    } catch (err) {
      this.o.log.error('the stored trust state is unreadable; starting it again from the current roots', { secret: `${this.o.namespace}/${this.stateName}`, key: TRUST_STATE_KEY, error: message(err) });
      return undefined;
    }
  }

  private async writeState(state: TrustState, stored: Secret | undefined): Promise<void> {
    await this.writeSecret(this.stateName, 'trellis.io/trust-bundle', { [TRUST_STATE_KEY]: b64(JSON.stringify(state)) }, stored);
  }

  /** Replaces `stored` (409 unless its version is still current), or creates the Secret (409 if another did). */
  private async writeSecret(name: string, type: string, data: Record<string, string>, stored: Secret | undefined): Promise<void> {
    const path = `/api/v1/namespaces/${encodeURIComponent(this.o.namespace)}/secrets`;
    const version = stored?.metadata?.resourceVersion;
    const body = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: this.o.namespace, ...(version ? { resourceVersion: version } : {}) }, type, data };
    if (stored) await this.o.rest.request('PUT', `${path}/${encodeURIComponent(name)}`, body);
    else await this.o.rest.post(path, body);
  }

  /** Another replica recorded a root change: publish what it recorded. */
  private async readState(): Promise<void> {
    const stored = this.secret(this.stateName);
    if (!stored) {
      // Deleted: the operator's way to stop trusting previous roots at once (a compromised old
      // root); the record starts again from the roots the CA signs under.
      this.o.log.warn('the trust record was deleted; trusting only the current roots from now on', { secret: `${this.o.namespace}/${this.stateName}` });
      this.state = undefined;
      await this.recordRoots(this.pending ?? this.current);
      return;
    }
    const state = this.parse(stored);
    if (state) this.state = state;
    this.publish();
  }

  /** The bundle: the recorded state, and always the roots the CA signs (or is about to sign) under. */
  private publish(): void {
    const extra = [this.current, this.pending].flatMap((c) => (c ? rootsOf(c.rootPem) : []));
    const bundle = trustBundle(this.state ?? { current: [], retained: [] }, this.now(), extra);
    if (bundle === this.published) return;
    const first = this.published === '';
    this.published = bundle;
    if (!first) this.o.log.info('the trust bundle changed', { roots: rootsOf(bundle).length });
    this.listeners.onBundle?.(bundle);
  }

  private async rotateIfDue(): Promise<void> {
    if (this.secret(this.pluginName) || this.pending) return; // a plug-in CA is the operator's to rotate
    const ca = this.current;
    if (!ca.selfSigned || ca.signingCertPem !== this.selfSignedCert) return;
    const root = new X509Certificate(ca.signingCertPem);
    if (!rootRotationDue(root, this.now(), this.o.rotationGraceRatio)) return;
    const stored = this.secret(this.selfName);
    const next = await MeshCa.create({ trustDomain: this.o.trustDomain, maxTtlSeconds: this.o.maxTtlSeconds, days: this.o.rootDays, now: this.now() });
    try {
      await this.storeSelfSigned(next, stored);
      this.selfSignedCert = next.signingCertPem;
      this.o.log.info('rotating the self-signed root: it is in the last part of its lifetime', { secret: `${this.o.namespace}/${this.selfName}`, oldNotAfter: root.validTo, newNotAfter: next.notAfter.toISOString() });
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) return; // another replica rotated it first
      throw err;
    }
    // The watch brings the new Secret back here; reconciling now saves waiting for it.
    this.enqueue(() => this.reconcileOrRetry());
  }

  /** Writes the self-signed root's Secret: replacing `stored` (its version must still be current), or creating it. */
  private async storeSelfSigned(ca: MeshCa, stored: Secret | undefined): Promise<void> {
    try {
      await this.writeSecret(this.selfName, SELF_SIGNED_SECRET_TYPE, { [CA_CERT]: b64(ca.signingCertPem), [CA_KEY]: b64(ca.signingKeyPem) }, stored);
    } catch (err) {
      // Created meanwhile by another replica (restoring it too): theirs is read back by the watch.
      if (!stored && err instanceof ApiError && err.status === 409) return;
      throw err;
    }
  }
}
