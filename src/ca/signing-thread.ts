// The mesh CA's costly steps on a thread of their own. Node.js runs the control plane on one
// event loop; a certificate request costs it 3.5–4.5 ms of CPU there, of which the TokenReview
// (a request to the API server: TLS writes, JSON) and the CSR's check and signature are about
// half (BENCHMARKS.md, ca-load). On that loop the CA topped out below 200 certificates/s with the
// second core partly idle; here those steps run on the second core while the main thread keeps
// the TLS connections, the gRPC calls, the review cache and every decision.
//
// Nothing is lost to the thread: while it is down (it is started again after a second), or when
// it cannot do a step (the CA does not load there), the main thread does the step itself, and
// the requests the thread held when it stopped are redone here.
import { Worker } from 'node:worker_threads';
import type { Logger } from '../util/logger.js';
import { logLevel } from '../util/logger.js';
import { CsrRejected, type MeshCa, type WorkloadIdentity } from './authority.js';
import type { FromSigningWorker, SigningWorkerData, ToSigningWorker } from './signing-worker.js';
import type { TokenReviewer } from './token-review.js';

const RESTART_DELAY_MS = 1000;

export interface SigningThreadOptions {
  kubeconfig: string | undefined;
  /** The CA signing now; each request is signed by the one current when it is made. */
  currentCa: () => MeshCa;
  /** Reviews tokens in this thread while the signing thread is down. */
  fallbackReview: TokenReviewer;
  log: Logger;
  /** Called with each thread once it is ready (the first and every restart); tests use it. */
  onThread?: (worker: Worker) => void;
}

export interface SigningThread {
  review: TokenReviewer;
  signer: Pick<MeshCa, 'sign'>;
  close(): Promise<void>;
}

interface Pending {
  settle(m: FromSigningWorker): void;
  /** Does the request in this thread instead. */
  redo(): void;
}

class Unavailable extends Error {}

/** Starts the thread and resolves once it is ready; a thread that dies later is started again. */
export async function startSigningThread(o: SigningThreadOptions): Promise<SigningThread> {
  let closing = false;
  // The running thread; undefined between its death and its replacement being ready.
  let current: Worker | undefined;
  // The CA the running thread was sent last.
  let sentCa: MeshCa | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  let restarting: Promise<void> | undefined;
  let nextId = 1;
  const pending = new Map<number, Pending>();

  const start = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const data: SigningWorkerData = { kubeconfig: o.kubeconfig, logLevel: logLevel() };
      const worker = new Worker(new URL('./signing-worker.js', import.meta.url), { workerData: data });
      let ready = false;
      worker.on('message', (m: FromSigningWorker) => {
        if (m.kind === 'ready') {
          ready = true;
          resolve(worker);
        } else if (m.kind === 'failed') {
          reject(new Error(`the CA signing thread did not start: ${m.error}`));
        } else {
          const p = pending.get(m.id);
          pending.delete(m.id);
          p?.settle(m);
        }
      });
      worker.on('error', (err) => {
        if (!ready) reject(err);
        else o.log.error('the CA signing thread failed', { error: err.stack ?? err.message });
      });
      worker.on('exit', (code) => {
        if (!ready) return reject(new Error(`the CA signing thread exited (code ${code}) before it was ready`));
        if (worker !== current) return;
        current = undefined;
        sentCa = undefined;
        const held = [...pending.values()];
        pending.clear();
        for (const p of held) p.redo();
        if (closing) return;
        o.log.error('the CA signing thread stopped; the main thread signs until it is back', { code, inMs: RESTART_DELAY_MS, requestsRedone: held.length });
        scheduleRestart();
      });
    });

  const restart = async (): Promise<void> => {
    try {
      const worker = await start();
      if (closing) {
        await worker.terminate();
        return;
      }
      current = worker;
      o.log.info('the CA signing thread is back');
      o.onThread?.(worker);
    } catch (err) {
      if (closing) return;
      o.log.error('the CA signing thread did not start again; retrying', { error: err instanceof Error ? err.message : String(err), inMs: RESTART_DELAY_MS });
      scheduleRestart();
    }
  };

  const scheduleRestart = (): void => {
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      restarting = restart().finally(() => (restarting = undefined));
    }, RESTART_DELAY_MS);
    restartTimer.unref();
  };

  /**
   * Sends a request to the thread and reads its answer with `read`; `here` does the same in this
   * thread, when there is no thread, when it stops first, or when `read` throws Unavailable.
   */
  const call = <T>(message: (id: number) => ToSigningWorker, read: (m: FromSigningWorker) => T, here: () => Promise<T>, before?: (w: Worker) => void): Promise<T> => {
    const worker = current;
    if (!worker) return here();
    return new Promise<T>((resolve, reject) => {
      const redo = (): void => void here().then(resolve, reject);
      const id = nextId++;
      pending.set(id, {
        settle: (m) => {
          try {
            resolve(read(m));
          } catch (err) {
            if (err instanceof Unavailable) {
              o.log.warn('the CA signing thread could not do a request; doing it in the main thread', { error: err.message });
              redo();
            } else reject(err);
          }
        },
        redo,
      });
      before?.(worker);
      worker.postMessage(message(id));
    });
  };

  const failure = (m: FromSigningWorker): Error => {
    if (m.kind === 'unavailable') return new Unavailable(m.error);
    if (m.kind === 'error') return new Error(m.error);
    return new Error(`the CA signing thread answered ${m.kind} out of turn`);
  };

  const review: TokenReviewer = (token, audiences) =>
    call(
      (id) => ({ kind: 'review', id, token, audiences }),
      (m) => {
        if (m.kind === 'reviewed') return m.status;
        throw failure(m);
      },
      () => o.fallbackReview(token, audiences),
    );

  const sign = (csrPem: string, identity: WorkloadIdentity, ttlSeconds: number): Promise<string[]> => {
    const ca = o.currentCa();
    return call(
      (id) => ({ kind: 'sign', id, csrPem, identity, ttlSeconds }),
      (m) => {
        if (m.kind === 'signed') return m.chain;
        if (m.kind === 'rejected') throw new CsrRejected(m.csrKind, m.reason);
        throw failure(m);
      },
      () => ca.sign(csrPem, identity, ttlSeconds),
      (worker) => {
        if (sentCa === ca) return;
        worker.postMessage({ kind: 'ca', material: ca.material, options: ca.options } satisfies ToSigningWorker);
        sentCa = ca;
      },
    );
  };

  current = await start();
  o.onThread?.(current);
  return {
    review,
    signer: { sign },
    close: async () => {
      closing = true;
      clearTimeout(restartTimer);
      await restarting;
      const worker = current;
      if (!worker) return;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ kind: 'close' } satisfies ToSigningWorker);
      const timer = setTimeout(() => void worker.terminate(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
