// The mesh CA's thread (see signing-thread.ts): the two costly steps of a certificate request,
// the TokenReview with the API server and the CSR's check and signature, done off the main
// thread, which keeps the TLS connection, the gRPC call, the review cache and the decisions.
// Both steps are pure of the control plane's state: a token and audiences in, the API server's
// verdict out; a CSR, an identity and a lifetime in, a chain out (with the CA the main thread
// sent last).
import { parentPort, workerData } from 'node:worker_threads';
import { loadKubeAccess } from '../kube/access.js';
import { Rest } from '../kube/rest.js';
import { setLogLevel } from '../util/logger.js';
import { CsrRejected, MeshCa, type MeshCaOptions, type WorkloadIdentity } from './authority.js';
import type { CaMaterial } from './chain.js';
import { tokenReviewVia, type TokenReviewStatus } from './token-review.js';

export interface SigningWorkerData {
  kubeconfig: string | undefined;
  logLevel: string;
}

/** Main thread → worker. Messages are handled in order: a `sign` uses the last `ca` before it. */
export type ToSigningWorker =
  | { kind: 'ca'; material: CaMaterial; options: MeshCaOptions }
  | { kind: 'review'; id: number; token: string; audiences: string[] }
  | { kind: 'sign'; id: number; csrPem: string; identity: WorkloadIdentity; ttlSeconds: number }
  | { kind: 'close' };

/** Worker → main thread. `unavailable`: this thread cannot do it (the main thread does it itself). */
export type FromSigningWorker =
  | { kind: 'ready' }
  | { kind: 'failed'; error: string }
  | { kind: 'reviewed'; id: number; status: TokenReviewStatus }
  | { kind: 'signed'; id: number; chain: string[] }
  | { kind: 'rejected'; id: number; csrKind: CsrRejected['kind']; reason: string }
  | { kind: 'error'; id: number; error: string }
  | { kind: 'unavailable'; id: number; error: string };

const port = parentPort;
if (!port) throw new Error('signing-worker.js runs as a worker thread (signing-thread.ts starts it)');
const data = workerData as SigningWorkerData;
const post = (m: FromSigningWorker): void => port.postMessage(m);
const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));
setLogLevel(data.logLevel);

try {
  const review = tokenReviewVia(new Rest(await loadKubeAccess(data.kubeconfig)));
  // The CA being loaded or loaded last; a sign waits for the one sent before it.
  let ca: Promise<MeshCa> = Promise.reject(new Error('no CA was sent to the signing thread'));
  ca.catch(() => undefined);
  port.on('message', (m: ToSigningWorker) => {
    switch (m.kind) {
      case 'ca':
        ca = MeshCa.fromPem(m.material, m.options);
        ca.catch(() => undefined);
        return;
      case 'review':
        review(m.token, m.audiences).then(
          (status) => post({ kind: 'reviewed', id: m.id, status }),
          (err: unknown) => post({ kind: 'error', id: m.id, error: message(err) }),
        );
        return;
      case 'sign': {
        const { id } = m;
        ca.then(
          (signer) =>
            signer.sign(m.csrPem, m.identity, m.ttlSeconds).then(
              (chain) => post({ kind: 'signed', id, chain }),
              (err: unknown) => post(err instanceof CsrRejected ? { kind: 'rejected', id, csrKind: err.kind, reason: err.reason } : { kind: 'error', id, error: message(err) }),
            ),
          (err: unknown) => post({ kind: 'unavailable', id, error: `the CA did not load in the signing thread: ${message(err)}` }),
        );
        return;
      }
      case 'close':
        // Requests still here are redone by the main thread when this thread exits.
        process.exit(0);
    }
  });
  post({ kind: 'ready' });
} catch (err) {
  post({ kind: 'failed', error: message(err) });
  port.close();
}
