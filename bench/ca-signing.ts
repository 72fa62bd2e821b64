// The mesh CA's signing path. Three parts:
//  (1) in process: MeshCa.sign on pre-made CSRs (parse, verify the CSR, issue), sequentially and
//      with N in flight;
//  (2) over gRPC with TLS on loopback, the agent's client (one TLS connection per request, as an
//      agent renewing its certificate does) and a TokenReview that answers at once: the
//      service's own cost;
//  (3) with the real API server's TokenReview (devcluster or KUBECONFIG), cache off (every
//      request is a TokenReview) and cache on (one review per token, then reuse).
//
//   npx tsc && node dist/bench/ca-signing.js [--requests 1000] [--concurrency 16]
//
// Record results in BENCHMARKS.md with the machine and the date.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { MeshCa } from '../src/ca/authority.js';
import { createCsr, requestCertificate, spiffeId } from '../src/ca/certificate-client.js';
import { CREATE_CERTIFICATE_PATH, decodeResponse, encodeRequest } from '../src/ca/certificate-proto.js';
import { addCertificateService } from '../src/ca/certificate-service.js';
import { TokenAuthenticator, type TokenReviewer } from '../src/ca/token-review.js';
import { Rest } from '../src/kube/rest.js';
import { loggerFor, setLogLevel } from '../src/util/logger.js';
import { clusterAvailable, devcluster, kube, run, testNamespace } from '../test/support/cluster.js';
import { arg } from './args.js';

setLogLevel('error');

const REQUESTS = arg('requests', 1000);
const CONCURRENCY = arg('concurrency', 16);
const TD = 'cluster.local';
const SERVER_NAME = 'trellis.trellis-system.svc';

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const ms = (x: number): string => `${x.toFixed(2)} ms`;

/** Runs `n` calls of `fn` with `concurrency` in flight; latencies and the rate. */
async function load(n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<{ lat: number[]; perSecond: number }> {
  const lat: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await fn(i);
        lat.push(performance.now() - t);
      }
    }),
  );
  return { lat, perSecond: n / ((performance.now() - start) / 1000) };
}

function report(what: string, r: { lat: number[]; perSecond: number }): void {
  process.stdout.write(`${what}: ${r.perSecond.toFixed(0)}/s  p50 ${ms(pct(r.lat, 50))}  p99 ${ms(pct(r.lat, 99))}  max ${ms(Math.max(...r.lat))}\n`);
}

process.stdout.write(`${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), node ${process.version}; ${REQUESTS} requests, ${CONCURRENCY} in flight\n`);
const ca = await MeshCa.create({ trustDomain: TD });
const identity = { trustDomain: TD, namespace: 'bench', serviceAccount: 'alice' };
const csrStart = performance.now();
const csrs = Array.from({ length: REQUESTS }, () => createCsr(spiffeId(identity)).csrPem);
process.stdout.write(`createCsr (the agent's side, key generation included): ${ms((performance.now() - csrStart) / REQUESTS)} each\n`);

// (1) in process
report('(1) MeshCa.sign, one at a time', await load(REQUESTS, 1, (i) => ca.sign(csrs[i], identity, 86_400)));
report(`(1) MeshCa.sign, ${CONCURRENCY} in flight`, await load(REQUESTS, CONCURRENCY, (i) => ca.sign(csrs[i], identity, 86_400)));

// (2) and (3): the gRPC service over TLS.
async function serve(tokens: TokenAuthenticator, td = TD): Promise<{ address: string; close: () => void }> {
  const serving = await ca.issueServing([SERVER_NAME], 1);
  const server = new grpc.Server();
  addCertificateService(server, { ca, tokens, trustDomain: td, log: loggerFor('bench') });
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(serving.cert), private_key: Buffer.from(serving.key) }], false);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  return { address: `127.0.0.1:${port}`, close: () => server.forceShutdown() };
}

const instant: TokenReviewer = async () => ({ authenticated: true, audiences: ['istio-ca'], user: { username: 'system:serviceaccount:bench:alice' } });
{
  const s = await serve(new TokenAuthenticator(instant, { maxEntries: 0 }));
  report('(2) gRPC+TLS, instant TokenReview, a new connection per request', await load(REQUESTS, CONCURRENCY, (i) => requestCertificate({ address: s.address, rootCaPem: ca.rootPem, serverName: SERVER_NAME, token: 'bench', csrPem: csrs[i] })));
  // One connection for all: the service's own cost, without TLS handshakes.
  const client = new grpc.Client(s.address, grpc.credentials.createSsl(Buffer.from(ca.rootPem)), { 'grpc.ssl_target_name_override': SERVER_NAME });
  const metadata = new grpc.Metadata();
  metadata.set('authorization', 'Bearer bench');
  const call = (csr: string): Promise<unknown> =>
    new Promise((resolve, reject) => client.makeUnaryRequest(CREATE_CERTIFICATE_PATH, encodeRequest, decodeResponse, { csr, validityDuration: 0 }, metadata, (err, res) => (err ? reject(err) : resolve(res))));
  report('(2) gRPC+TLS, instant TokenReview, one connection', await load(REQUESTS, CONCURRENCY, (i) => call(csrs[i])));
  client.close();
  s.close();
}

// (3) the real API server
if (!clusterAvailable() || (await run(devcluster, ['status'])).code !== 0) {
  process.stdout.write('devcluster not running: skipping the TokenReview part (make cluster-up)\n');
  process.exit(0);
}
const { kc, core } = kube();
const rest = new Rest(kc);
const ns = testNamespace('bench-ca');
await core.createNamespace({ body: { metadata: { name: ns } } });
try {
  await rest.post(`/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'alice' } });
  const { status } = await rest.post<{ status: { token: string } }>(`/api/v1/namespaces/${ns}/serviceaccounts/alice/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['istio-ca'], expirationSeconds: 3600 } });
  const nsCsrs = Array.from({ length: REQUESTS }, () => createCsr(spiffeId({ trustDomain: TD, namespace: ns, serviceAccount: 'alice' })).csrPem);
  for (const [what, opts] of [
    ['(3) gRPC+TLS, real TokenReview every request (cache off)', { maxEntries: 0 }],
    ['(3) gRPC+TLS, real TokenReview, cached', {}],
  ] as const) {
    const s = await serve(TokenAuthenticator.forApiServer(rest, opts));
    report(what, await load(REQUESTS, CONCURRENCY, (i) => requestCertificate({ address: s.address, rootCaPem: ca.rootPem, serverName: SERVER_NAME, token: status.token, csrPem: nsCsrs[i] })));
    s.close();
  }
  report('(3) TokenReview alone (cache off)', await load(REQUESTS, CONCURRENCY, () => TokenAuthenticator.forApiServer(rest, { maxEntries: 0 }).authenticate(status.token, ['istio-ca'])));
} finally {
  await core.deleteNamespace({ name: ns });
}
