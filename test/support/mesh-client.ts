// Clients for the tests' real Envoys: a plain HTTP GET (to a port or a Unix socket) and a GET over
// the mesh's mTLS as a client sidecar sends it (ALPN istio, a workload certificate of the test
// mesh's root), each resolving to what came back or the error's code, never rejecting.
import http from 'node:http';
import https from 'node:https';
import { MeshCa } from '../../src/ca/authority.js';
import { createCsr, spiffeId } from '../../src/ca/csr.js';
import { testMeshCa } from './envoy.js';

export type Answer = { status: number; body: string; headers: http.IncomingHttpHeaders } | { error: string };

export interface GetOptions {
  host?: string;
  port?: number;
  /** A Unix domain socket instead of host and port. */
  socketPath?: string;
  headers?: Record<string, string>;
}

/** GET / in plaintext. */
export function plainGet(o: GetOptions): Promise<Answer> {
  return answer(http.get({ host: o.host ?? '127.0.0.1', port: o.port, socketPath: o.socketPath, path: '/', agent: false, timeout: 5000, headers: o.headers }));
}

export interface WorkloadCert {
  cert: string;
  key: string;
}

/** A workload certificate for `spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>` from the test mesh's root (the one the tests' Envoys trust). */
export async function workloadCert(identity: { trustDomain?: string; namespace: string; serviceAccount: string }): Promise<WorkloadCert> {
  const root = await testMeshCa();
  const id = { trustDomain: identity.trustDomain ?? 'cluster.local', namespace: identity.namespace, serviceAccount: identity.serviceAccount };
  const ca = await MeshCa.fromPem({ caCertPem: root.signingCertPem, caKeyPem: root.signingKeyPem, rootCertPem: root.rootPem }, { trustDomain: id.trustDomain });
  const { csrPem, keyPem } = createCsr(spiffeId(id));
  return { cert: (await ca.sign(csrPem, id, 3600)).slice(0, -1).join(''), key: keyPem };
}

/** GET / over the mesh's mTLS with `who`'s certificate, as a client sidecar would (ALPN istio). */
export async function meshGet(o: GetOptions & { who: WorkloadCert }): Promise<Answer> {
  // ALPN is a TLS option https passes through (its RequestOptions type does not list it).
  const options: https.RequestOptions & { ALPNProtocols: string[] } = {
    host: o.host ?? '127.0.0.1',
    port: o.port,
    path: '/',
    agent: false,
    timeout: 5000,
    ca: (await testMeshCa()).rootPem,
    cert: o.who.cert,
    key: o.who.key,
    ALPNProtocols: ['istio'],
    rejectUnauthorized: false,
    headers: o.headers,
  };
  return answer(https.get(options));
}

function answer(req: http.ClientRequest): Promise<Answer> {
  return new Promise((resolve) => {
    req.on('response', (res: http.IncomingMessage) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
  });
}
