// The mesh CA's own CPU per certificate, apart from its clients: the certificate service over
// TLS (instant TokenReview) runs in a child process; this process sends the requests with the
// agent's client (a new TLS connection each, as a new pod or a renewing agent), then reads the
// child's CPU time (process.cpuUsage) for exactly those requests. ca-signing.ts (2) measures
// both sides in one process; this says what the control plane spends.
//
//   npx tsc && node dist/bench/ca-server-cpu.js [--requests 600] [--concurrency 8]
//
// Record results in BENCHMARKS.md with the machine and the date.
import { fork } from 'node:child_process';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { MeshCa } from '../src/ca/authority.js';
import { createCsr, requestCertificate, spiffeId } from '../src/ca/certificate-client.js';
import { addCertificateService } from '../src/ca/certificate-service.js';
import { TokenAuthenticator, type TokenReviewer } from '../src/ca/token-review.js';
import { loggerFor, setLogLevel } from '../src/util/logger.js';
import { arg } from './args.js';

setLogLevel('error');
const SERVER_NAME = 'trellis.trellis-system.svc';
type Message = { ready: { port: number; rootPem: string } } | { cpuMs: number } | 'started';

if (process.argv.includes('--serve')) {
  const ca = await MeshCa.create({ trustDomain: 'cluster.local' });
  const serving = await ca.issueServing([SERVER_NAME], 1);
  const server = new grpc.Server();
  const instant: TokenReviewer = async () => ({ authenticated: true, audiences: ['istio-ca'], user: { username: 'system:serviceaccount:bench:alice' } });
  addCertificateService(server, { ca, tokens: new TokenAuthenticator(instant, { maxEntries: 0 }), trustDomain: 'cluster.local', log: loggerFor('bench') });
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(serving.cert), private_key: Buffer.from(serving.key) }], false);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  let start = process.cpuUsage();
  process.on('message', (m: string) => {
    if (m === 'start') {
      start = process.cpuUsage();
      process.send!('started');
    } else if (m === 'stop') {
      const u = process.cpuUsage(start);
      process.send!({ cpuMs: (u.user + u.system) / 1000 }, () => process.exit(0));
    }
  });
  process.send!({ ready: { port, rootPem: ca.rootPem } });
} else {
  const REQUESTS = arg('requests', 600);
  const CONCURRENCY = arg('concurrency', 8);
  const child = fork(fileURLToPath(import.meta.url), ['--serve']);
  const next = <T extends Message>(pred: (m: Message) => boolean): Promise<T> =>
    new Promise((resolve) => {
      const on = (m: Message): void => {
        if (!pred(m)) return;
        child.off('message', on);
        resolve(m as T);
      };
      child.on('message', on);
    });
  const { ready } = await next<{ ready: { port: number; rootPem: string } }>((m) => typeof m === 'object' && 'ready' in m);
  const csrs = Array.from({ length: REQUESTS }, () => createCsr(spiffeId({ trustDomain: 'cluster.local', namespace: 'bench', serviceAccount: 'alice' })).csrPem);
  child.send('start');
  await next((m) => m === 'started');
  let i = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (i < REQUESTS) {
        const csrPem = csrs[i++];
        await requestCertificate({ address: `127.0.0.1:${ready.port}`, rootCaPem: ready.rootPem, serverName: SERVER_NAME, token: 'bench', csrPem });
      }
    }),
  );
  const seconds = (performance.now() - t) / 1000;
  child.send('stop');
  const { cpuMs } = await next<{ cpuMs: number }>((m) => typeof m === 'object' && 'cpuMs' in m);
  process.stdout.write(`${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, load average ${os.loadavg()[0].toFixed(1)}\n`);
  process.stdout.write(`${REQUESTS} certificates, ${CONCURRENCY} in flight, a new TLS connection each: ${(REQUESTS / seconds).toFixed(0)}/s; the CA's CPU ${(cpuMs / REQUESTS).toFixed(2)} ms per certificate\n`);
}
