// The admission webhooks (/validate, /inject) on a thread of their own. The API server waits for
// them on every write of an Istio object and every new pod, while the main thread may be busy
// pushing to thousands of proxies: on one event loop, each `kubectl apply` during a push waited
// for it (BENCHMARKS.md, vs-istiod: answers p50 139 ms, max 1 s, with 1,000 proxies). Both
// handlers are pure functions of the request and the options given at start, so the thread
// needs nothing the main thread holds; it sends back only its port and what the metrics count.
import { Worker } from 'node:worker_threads';
import type { Logger } from '../util/logger.js';
import { logLevel } from '../util/logger.js';
import type { AdmissionWorkerData, FromAdmissionWorker, ToAdmissionWorker } from './admission-worker.js';
import type { KeyPairPem } from './certs.js';
import type { InjectOptions } from './inject.js';
import { injectionSeconds } from './injection.js';
import { webhookRequests, type AdmissionServer } from './server.js';

const RESTART_DELAY_MS = 1000;

export interface AdmissionThreadOptions {
  host: string;
  port: number;
  certificate: KeyPairPem;
  injection: InjectOptions;
  log: Logger;
  /** Called with each thread once it listens (the first and every restart); tests use it. */
  onThread?: (worker: Worker) => void;
}

/** Starts the thread and resolves once it listens; a thread that dies later is started again. */
export async function startAdmissionThread(opts: AdmissionThreadOptions): Promise<AdmissionServer> {
  let certificate = opts.certificate;
  // Restarts listen where the first thread did, not on the port asked for (0 in tests).
  let port = opts.port;
  let closing = false;
  // The running thread; undefined between its death and its replacement's first listen.
  let current: Worker | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  let restarting: Promise<void> | undefined;

  const start = (): Promise<{ worker: Worker; port: number }> =>
    new Promise((resolve, reject) => {
      const data: AdmissionWorkerData = { host: opts.host, port, certificate, injection: opts.injection, logLevel: logLevel() };
      const worker = new Worker(new URL('./admission-worker.js', import.meta.url), { workerData: data });
      let listening = false;
      worker.on('message', (m: FromAdmissionWorker) => {
        if (m.kind === 'request') webhookRequests.inc({ path: m.path, outcome: m.outcome });
        else if (m.kind === 'injection') injectionSeconds.observe(m.seconds);
        else if (m.kind === 'listening') {
          listening = true;
          resolve({ worker, port: m.port });
        } else reject(new Error(`the admission server did not start: ${m.error}`));
      });
      worker.on('error', (err) => {
        if (!listening) reject(err);
        else opts.log.error('the admission thread failed', { error: err.stack ?? err.message });
      });
      worker.on('exit', (code) => {
        if (!listening) return reject(new Error(`the admission thread exited (code ${code}) before it listened`));
        if (worker !== current || closing) return;
        current = undefined;
        opts.log.error('the admission thread stopped; starting it again', { code, inMs: RESTART_DELAY_MS });
        scheduleRestart();
      });
    });

  const restart = async (): Promise<void> => {
    try {
      const { worker } = await start();
      if (closing) {
        await worker.terminate();
        return;
      }
      current = worker;
      opts.log.info('the admission thread listens again', { port });
      opts.onThread?.(worker);
    } catch (err) {
      if (closing) return;
      opts.log.error('the admission thread did not start again; retrying', { error: err instanceof Error ? err.message : String(err), inMs: RESTART_DELAY_MS });
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

  const first = await start();
  current = first.worker;
  port = first.port;
  opts.onThread?.(first.worker);
  return {
    port,
    setCertificate: (pair) => {
      // A thread started later reads it from here.
      certificate = pair;
      current?.postMessage({ kind: 'certificate', pair } satisfies ToAdmissionWorker);
    },
    close: async () => {
      closing = true;
      clearTimeout(restartTimer);
      await restarting;
      const worker = current;
      if (!worker) return;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ kind: 'close' } satisfies ToAdmissionWorker);
      const timer = setTimeout(() => void worker.terminate(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
