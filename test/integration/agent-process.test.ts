// The real agent process (dist/agent/trellis-agent, Go, as the proxy image runs it) with the real
// Envoy it starts, against a mesh CA on loopback: it has trellis-bootstrap write Envoy's
// bootstrap, obtains its certificate (Envoy then holds it, SPIFFE ID and all), renews it under a
// short lifetime (Envoy swaps it without a restart), follows its root file as the kubelet updates
// the ConfigMap volume (Envoy gets the new bundle; a file that is not CA certificates is refused
// and Envoy keeps what it had), answers the status port, and on SIGTERM drains and stops Envoy.
// No cluster needed; the build (make build) must be current. Envoy takes the bootstrap's fixed
// ports (15000, 15090, 15021) and the agent 15020 on the host, so this file runs alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MeshCa } from '../../src/ca/authority.js';
import { addCertificateService } from '../../src/ca/certificate-service.js';
import { TokenAuthenticator } from '../../src/ca/token-review.js';
import { loggerFor, setLogLevel } from '../../src/util/logger.js';
import { kubeletWrite } from '../support/configmap-volume.js';
import { envoyBinary, repoRoot, waitFor } from '../support/envoy.js';

setLogLevel('error');
let dir: string;
let server: grpc.Server;
let agent: ChildProcess;
let exited: Promise<number | null>;
let oldCa: MeshCa;
let newCa: MeshCa;
/** The pod's app: its own metrics and a readiness endpoint, on loopback. */
let app: http.Server;
const APP_METRICS = '# TYPE reviews_served_total counter\nreviews_served_total 42\n';
const IDENTITY = 'spiffe://cluster.local/ns/test/sa/reviews';

const volume = (): string => path.join(dir, 'istio');
const writeRoot = (content: string): void => kubeletWrite(volume(), 'root-cert.pem', content);
const logText = (): string => fs.readFileSync(path.join(dir, 'agent.log'), 'utf8');
type Line = { message?: string; error?: string; roots?: number; stage?: string; code?: number | null; signal?: string | null };
const lines = (): Line[] =>
  logText()
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Line];
      } catch {
        return [];
      }
    });

interface CertInfo {
  serial_number: string;
  subject_alt_names?: Array<{ uri?: string }>;
}
/** What Envoy's admin says it holds: the workload certificate(s) and the CA certificates. */
async function envoyCerts(): Promise<{ workload: CertInfo[]; cas: CertInfo[] }> {
  const res = await fetch('http://127.0.0.1:15000/certs');
  const body = (await res.json()) as { certificates: Array<{ ca_cert?: CertInfo[]; cert_chain?: CertInfo[] }> };
  return { workload: body.certificates.flatMap((c) => c.cert_chain ?? []), cas: body.certificates.flatMap((c) => c.ca_cert ?? []) };
}
/** The ROOTCA secret Envoy holds (its config dump): the roots it verifies peers against, as serials. */
async function envoyRoots(): Promise<string[]> {
  const res = await fetch('http://127.0.0.1:15000/config_dump?resource=dynamic_active_secrets');
  const body = (await res.json()) as { configs: Array<{ name: string; secret?: { validation_context?: { trusted_ca?: { inline_bytes?: string } } } }> };
  const b64 = body.configs.find((c) => c.name === 'ROOTCA')?.secret?.validation_context?.trusted_ca?.inline_bytes;
  if (!b64) return [];
  const pems = Buffer.from(b64, 'base64').toString().match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  return pems.map(serialOf);
}
/** A certificate's serial as Envoy's admin writes it (lower-case hex). */
const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber.toLowerCase();

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-agent-'));
  fs.mkdirSync(volume());
  [oldCa, newCa] = await Promise.all([MeshCa.create({ trustDomain: 'cluster.local' }), MeshCa.create({ trustDomain: 'cluster.local' })]);
  const serving = await oldCa.issueServing(['trellis.trellis-system.svc'], 1, { ips: ['127.0.0.1'] });
  server = new grpc.Server();
  const yes = async () => ({ authenticated: true, audiences: ['istio-ca'], user: { username: 'system:serviceaccount:test:reviews' } });
  addCertificateService(server, { ca: oldCa, tokens: new TokenAuthenticator(yes, { maxEntries: 0 }), trustDomain: 'cluster.local', log: loggerFor('test-ca') });
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(serving.cert), private_key: Buffer.from(serving.key) }], false);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  app = http.createServer((req, res) => {
    if (req.url === '/metrics') return void res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(APP_METRICS);
    res.writeHead(req.url === '/ready' ? 200 : 503).end();
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as net.AddressInfo).port;
  writeRoot(oldCa.rootPem);
  fs.writeFileSync(path.join(dir, 'token'), 'test');
  fs.writeFileSync(path.join(dir, 'labels'), 'app="reviews"\nversion="v1"\n');
  const log = fs.openSync(path.join(dir, 'agent.log'), 'w');
  agent = spawn(path.join(repoRoot(), 'dist/agent/trellis-agent'), [], {
    env: {
      PATH: process.env.PATH,
      POD_NAME: 'reviews-1',
      POD_NAMESPACE: 'test',
      SERVICE_ACCOUNT: 'reviews',
      INSTANCE_IP: '127.0.0.1',
      // The CA's serving certificate is for the control plane's name and this address.
      TRELLIS_DISCOVERY_ADDRESS: `127.0.0.1:${port}`,
      TRELLIS_TOKEN_FILE: path.join(dir, 'token'),
      TRELLIS_ROOT_CERT: path.join(volume(), 'root-cert.pem'),
      TRELLIS_SDS_SOCKET: path.join(dir, 'sds.sock'),
      TRELLIS_CONFIG_DIR: path.join(dir, 'config'),
      TRELLIS_LABELS_FILE: path.join(dir, 'labels'),
      TRELLIS_CERT_TTL_SECONDS: '20',
      TRELLIS_DRAIN_SECONDS: '1',
      TRELLIS_ENVOY: envoyBinary(),
      TRELLIS_BOOTSTRAP: `${process.execPath} ${path.join(repoRoot(), 'dist/src/sidecar/bootstrap-cli.js')}`,
      NODE_ENV: 'production',
      // As the injector hands them over (webhooks/probes.ts, webhooks/prometheus-merge.ts).
      ISTIO_KUBE_APP_PROBERS: JSON.stringify({ '/app-health/reviews/readyz': { httpGet: { port: appPort, path: '/ready' } }, '/app-health/reviews/livez': { httpGet: { port: appPort, path: '/down' } } }),
      ISTIO_PROMETHEUS_ANNOTATIONS: JSON.stringify({ scrape: 'true', port: String(appPort), path: '/metrics' }),
    },
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  exited = new Promise((resolve) => agent.on('exit', (code) => resolve(code)));
});

afterAll(async () => {
  if (agent?.exitCode === null) {
    agent.kill('SIGKILL');
    // Envoy is the agent's child; without the agent it is stopped here.
  }
  for (const p of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(path.join(dir, 'config'))) process.kill(Number(p), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  server?.forceShutdown();
  app?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const withLog = (err: Error): never => {
  throw new Error(`${err.message}\n${logText()}`);
};

test('Envoy starts from trellis-bootstrap and holds the workload certificate the agent obtained', async () => {
  const certs = await waitFor('Envoy holding the workload certificate', async () => {
    const c = await envoyCerts().catch(() => undefined);
    return c && c.workload.some((w) => w.subject_alt_names?.some((s) => s.uri === IDENTITY)) ? c : undefined;
  }, 30_000).catch(withLog);
  expect(certs.cas.map((c) => c.serial_number)).toContain(serialOf(oldCa.rootPem));
  const info = (await (await fetch('http://127.0.0.1:15000/server_info')).json()) as { node: { id: string; metadata: { LABELS: Record<string, string> } } };
  expect(info.node.id).toBe('sidecar~127.0.0.1~reviews-1.test~test.svc.cluster.local');
  expect(info.node.metadata.LABELS).toEqual({ app: 'reviews', version: 'v1' });
  // The log is the control plane's format: JSON lines with a stage.
  expect(lines().find((l) => l.message === 'workload certificate issued')).toMatchObject({ stage: 'agent' });
});

test('the SDS socket is the agent user\'s alone', () => {
  const st = fs.statSync(path.join(dir, 'sds.sock'));
  expect(st.isSocket()).toBe(true);
  expect(st.mode & 0o777).toBe(0o600);
});

test('a renewal at half the lifetime reaches Envoy without a restart', async () => {
  const before = (await envoyCerts()).workload.map((w) => w.serial_number);
  const uptime = async () => ((await (await fetch('http://127.0.0.1:15000/server_info')).json()) as { uptime_current_epoch: string }).uptime_current_epoch;
  const start = await uptime();
  await waitFor('the renewed certificate in Envoy', async () => {
    const now = (await envoyCerts()).workload.map((w) => w.serial_number);
    return now.length > 0 && !now.some((s) => before.includes(s));
  }, 30_000).catch(withLog);
  expect(lines().some((l) => l.message === 'workload certificate renewed')).toBe(true);
  // The same Envoy (a restart would reset its uptime below the time it took).
  expect(parseInt(await uptime(), 10)).toBeGreaterThanOrEqual(parseInt(start, 10));
});

test('each new root bundle reaches Envoy; a bad file is refused and Envoy keeps what it had', async () => {
  expect(await envoyRoots()).toEqual([serialOf(oldCa.rootPem)]);
  writeRoot(newCa.rootPem + oldCa.rootPem);
  await waitFor('both roots in Envoy', async () => (await envoyRoots()).length === 2, 30_000).catch(withLog);
  expect(await envoyRoots()).toEqual([serialOf(newCa.rootPem), serialOf(oldCa.rootPem)]);
  expect(lines().find((l) => l.message === 'mesh root certificates changed; pushed to Envoy')?.roots).toBe(2);
  writeRoot('not a certificate');
  const refused = await waitFor('the bad file refused', async () => lines().find((l) => l.message === 'refusing the changed root certificate file; keeping the current roots'), 30_000);
  expect(refused.error).toBe('holds no PEM certificate');
  expect(await envoyRoots()).toEqual([serialOf(newCa.rootPem), serialOf(oldCa.rootPem)]);
  writeRoot(newCa.rootPem);
  await waitFor('the new root alone in Envoy', async () => (await envoyRoots()).length === 1, 30_000).catch(withLog);
  expect(await envoyRoots()).toEqual([serialOf(newCa.rootPem)]);
});

test("the status port: Envoy's stats and then the app's own metrics in one scrape; the app's probes", async () => {
  // Envoy opens its listeners (15090 among them) once its initial xDS fetches are over: here
  // they time out, nothing serves ADS at the discovery address.
  const text = await waitFor("Envoy's stats through the agent", async () => {
    const res = await fetch('http://127.0.0.1:15020/stats/prometheus');
    const body = await res.text();
    return res.status === 200 && /^envoy_server_live\b/m.test(body) ? body : undefined;
  }, 30_000).catch(withLog);
  expect(text).toMatch(/^reviews_served_total 42$/m);
  expect(text.indexOf('reviews_served_total')).toBeGreaterThan(text.lastIndexOf('envoy_'));
  expect((await fetch('http://127.0.0.1:15020/app-health/reviews/readyz')).status).toBe(200);
  expect((await fetch('http://127.0.0.1:15020/app-health/reviews/livez')).status).toBe(503);
  expect((await fetch('http://127.0.0.1:15020/app-health/none/readyz')).status).toBe(404);
});

test('SIGTERM drains Envoy, stops it, and the agent exits 0', async () => {
  agent.kill('SIGTERM');
  expect(await exited).toBe(0);
  const messages = lines().map((l) => l.message);
  expect(messages).toContain('draining');
  // Envoy exited by itself, code 0, on the agent's SIGTERM after the drain.
  expect(lines().find((l) => l.message === 'envoy exited')).toMatchObject({ code: 0, signal: null });
}, 30_000);
