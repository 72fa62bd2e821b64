// The pod's workload certificate: a key made here, a CSR for the pod's own SPIFFE ID signed by
// the mesh CA (the caller authenticates with the pod's token), renewed at half its lifetime.
// A failed request is retried with backoff; the current certificate stays in use meanwhile.
import { X509Certificate } from 'node:crypto';
import { createCsr } from '../ca/csr.js';
import { splitPem } from '../ca/pem.js';
import type { Logger } from '../util/logger.js';
import type { WorkloadSecrets } from './sds-server.js';

export interface WorkloadCertificateOptions {
  spiffeId: string;
  ttlSeconds: number;
  /** Asks the CA to sign: the chain, leaf first (the root may be last). */
  sign: (csrPem: string, ttlSeconds: number) => Promise<string[]>;
  /** The mesh root as published to the pod (read again at every renewal: it may rotate). */
  readRoot: () => string;
  log: Logger;
  /** Retry backoff bounds (ms). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class WorkloadCertificate {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: WorkloadCertificateOptions) {}

  /** A key and certificate, retrying until the CA signs (or stop() is called). */
  async obtain(): Promise<WorkloadSecrets> {
    let backoff = this.o.minBackoffMs ?? 500;
    for (;;) {
      try {
        const { csrPem, keyPem } = createCsr(this.o.spiffeId);
        const chain = await this.o.sign(csrPem, this.o.ttlSeconds);
        if (chain.length === 0) throw new Error('the CA returned an empty chain');
        const rootPem = this.o.readRoot();
        // The root is trusted from the published file; the chain Envoy presents stops below it.
        // During a root change the file holds several roots: the chain's root is one of them.
        const roots = new Set(splitPem(rootPem).map((r) => r.trim()));
        const presented = chain.length > 1 && roots.has(chain[chain.length - 1].trim()) ? chain.slice(0, -1) : chain;
        const leaf = new X509Certificate(presented[0]);
        this.o.log.info('workload certificate issued', { identity: this.o.spiffeId, notAfter: new Date(leaf.validTo).toISOString() });
        return { chainPem: presented.map((c) => (c.endsWith('\n') ? c : `${c}\n`)).join(''), keyPem, rootPem };
      } catch (err) {
        if (this.stopped) throw new Error('stopped', { cause: err });
        this.o.log.warn('cannot obtain the workload certificate; retrying', { identity: this.o.spiffeId, error: err instanceof Error ? err.message : String(err), retryMs: backoff });
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, this.o.maxBackoffMs ?? 30_000);
      }
    }
  }

  /** Calls `renewed` with a new certificate at half the lifetime of `current`, and so on. */
  renewEvery(current: WorkloadSecrets, renewed: (next: WorkloadSecrets) => Promise<void>): void {
    if (this.stopped) return;
    // Half of what is left: notBefore is backdated (clock skew), so half the nominal lifetime
    // would come too early.
    const to = new Date(new X509Certificate(current.chainPem).validTo).getTime();
    const delay = Math.max(1000, (to - Date.now()) / 2);
    this.timer = setTimeout(() => {
      this.obtain()
        .then(async (next) => {
          await renewed(next);
          this.renewEvery(next, renewed);
        })
        .catch((err: unknown) => {
          if (!this.stopped) this.o.log.error('renewal failed', { error: err instanceof Error ? err.message : String(err) });
        });
    }, delay);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
