// The admission server's thread (see admission-thread.ts): the HTTPS server of /validate and
// /inject, both pure functions of the request and the options the control plane started with.
// What the main thread needs from it goes back as messages: its port, the counts and timings
// for the metrics (they live in the main thread's registry, the one /metrics serves).
import { parentPort, workerData } from 'node:worker_threads';
import { loggerFor, setLogLevel } from '../util/logger.js';
import type { KeyPairPem } from './certs.js';
import type { InjectOptions } from './inject.js';
import { injectionHandler } from './injection.js';
import { startAdmissionServer, type Outcome } from './server.js';
import { validateAdmission } from './validation.js';

export interface AdmissionWorkerData {
  host: string;
  port: number;
  certificate: KeyPairPem;
  injection: InjectOptions;
  logLevel: string;
}

/** Worker → main thread. */
export type FromAdmissionWorker =
  | { kind: 'listening'; port: number }
  | { kind: 'failed'; error: string }
  | { kind: 'request'; path: string; outcome: Outcome }
  | { kind: 'injection'; seconds: number };

/** Main thread → worker. */
export type ToAdmissionWorker = { kind: 'certificate'; pair: KeyPairPem } | { kind: 'close' };

const port = parentPort;
if (!port) throw new Error('admission-worker.js runs as a worker thread (admission-thread.ts starts it)');
const data = workerData as AdmissionWorkerData;
const post = (m: FromAdmissionWorker): void => port.postMessage(m);
setLogLevel(data.logLevel);

try {
  const server = await startAdmissionServer({
    host: data.host,
    port: data.port,
    certificate: data.certificate,
    handlers: {
      '/validate': validateAdmission,
      '/inject': injectionHandler(data.injection, loggerFor('injection'), (seconds) => post({ kind: 'injection', seconds })),
    },
    log: loggerFor('webhooks'),
    count: (path, outcome) => post({ kind: 'request', path, outcome }),
  });
  port.on('message', (m: ToAdmissionWorker) => {
    if (m.kind === 'certificate') server.setCertificate(m.pair);
    else void server.close().then(() => port.close());
  });
  post({ kind: 'listening', port: server.port });
} catch (err) {
  post({ kind: 'failed', error: err instanceof Error ? err.message : String(err) });
  port.close();
}
