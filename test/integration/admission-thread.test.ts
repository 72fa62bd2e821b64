// The admission webhooks run on a thread of their own (src/webhooks/admission-thread.ts), so the
// API server's calls are answered while the main thread is busy (a push to thousands of proxies).
// A child process runs the built thread (dist/), as the control plane does, and on command blocks
// its own main thread; the webhook must answer during the block, and its counts must still reach
// the main thread's /metrics registry.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { createCa, issueServing, type KeyPairPem } from '../../src/webhooks/certs.js';
import { root, waitFor } from '../support/cluster.js';

const BLOCK_MS = 4000;

const child = `
import { startAdmissionThread } from ${JSON.stringify(path.join(root, 'dist/src/webhooks/admission-thread.js'))};
import { loggerFor, setLogLevel } from ${JSON.stringify(path.join(root, 'dist/src/util/logger.js'))};
import { registry } from ${JSON.stringify(path.join(root, 'dist/src/util/metrics.js'))};
setLogLevel('error');
const threads = [];
const server = await startAdmissionThread({
  host: '127.0.0.1', port: 0, certificate: JSON.parse(process.env.PAIR), log: loggerFor('test'),
  onThread: (worker) => { threads.push(worker); process.stdout.write('thread ' + threads.length + '\\n'); },
  injection: { proxyImage: 'trellis/proxy:test', discoveryAddress: 'trellis.trellis-system.svc:15012', proxyUid: 1337, clusterDomain: 'cluster.local', trustDomain: 'cluster.local' },
});
process.stdout.write('port ' + server.port + '\\n');
process.stdin.setEncoding('utf8');
process.stdin.on('data', async (line) => {
  for (const cmd of line.trim().split('\\n')) {
    if (cmd === 'block') {
      process.stdout.write('blocking\\n');
      const until = Date.now() + ${BLOCK_MS};
      while (Date.now() < until);
      process.stdout.write('unblocked\\n');
    } else if (cmd === 'metrics') {
      process.stdout.write('metrics ' + JSON.stringify(await registry.getSingleMetricAsString('trellis_webhook_requests_total') + (await registry.getSingleMetricAsString('trellis_injection_seconds'))) + '\\n');
    } else if (cmd === 'kill') {
      await threads.at(-1).terminate();
      process.stdout.write('killed\\n');
    } else if (cmd === 'close') {
      await server.close();
      process.stdout.write('closed\\n');
    }
  }
});
`;

interface Child {
  proc: ChildProcessWithoutNullStreams;
  port: number;
  /** Everything the child wrote to stdout so far. */
  out: () => string;
  events: string[];
}

let dir = '';
let pair: KeyPairPem;
const children: Child[] = [];
let main: Child;
let port = 0;

async function spawnChild(): Promise<Child> {
  let out = '';
  const events: string[] = [];
  const proc = spawn(process.execPath, [path.join(dir, 'child.mjs')], { env: { ...process.env, PAIR: JSON.stringify(pair) } });
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (const line of d.toString().split('\n')) if (line === 'blocking' || line === 'unblocked') events.push(line);
  });
  proc.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  const child: Child = { proc, port: 0, out: () => out, events };
  children.push(child);
  child.port = Number(await waitFor('the admission thread to listen', async () => /^port (\d+)$/m.exec(out)?.[1], 30_000, 50));
  return child;
}

beforeAll(async () => {
  pair = await issueServing(await createCa(), ['localhost'], ['127.0.0.1']);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'admission-thread-'));
  fs.writeFileSync(path.join(dir, 'child.mjs'), child);
  main = await spawnChild();
  port = main.port;
});

afterAll(() => {
  for (const c of children) c.proc.kill('SIGKILL');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function review(webhook: string, request: Record<string, unknown>): Promise<{ response: { allowed: boolean; status?: { message?: string }; patch?: string } }> {
  const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', operation: 'CREATE', userInfo: {}, ...request } });
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: webhook, method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve(JSON.parse(text) as { response: { allowed: boolean } }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const badVirtualService = {
  kind: { group: 'networking.istio.io', version: 'v1', kind: 'VirtualService' },
  resource: { group: 'networking.istio.io', version: 'v1', resource: 'virtualservices' },
  namespace: 'shop',
  name: 'reviews',
  object: { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'reviews', namespace: 'shop' }, spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: '' } }] }] } },
};

test('the thread validates and injects as the webhooks did on the main thread', async () => {
  const denied = await review('/validate', badVirtualService);
  expect(denied.response.allowed).toBe(false);
  expect(denied.response.status?.message).toMatch(/destination\.host: host must not be empty/);
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'app', namespace: 'shop' }, spec: { containers: [{ name: 'app', image: 'app:1' }] } };
  const injected = await review('/inject', { kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'shop', object: pod });
  expect(injected.response.allowed).toBe(true);
  expect(Buffer.from(injected.response.patch ?? '', 'base64').toString()).toContain('trellis/proxy:test');
});

test('the webhook answers while the main thread is blocked', async () => {
  main.proc.stdin.write('block\n');
  await waitFor('the main thread to block', async () => main.events.includes('blocking'), 10_000, 10);
  const answer = await review('/validate', badVirtualService);
  main.events.push('answered');
  expect(answer.response.allowed).toBe(false);
  await waitFor('the main thread to unblock', async () => main.events.includes('unblocked'), BLOCK_MS + 10_000, 50);
  // The answer came during the block, not after it.
  expect(main.events).toEqual(['blocking', 'answered', 'unblocked']);
});

test("the thread's counts reach the main thread's registry", async () => {
  // The count of the answer given during the block reaches the main thread as a message, in no
  // set order with the request for the metrics: ask until the last answer shows both.
  let asked = 0;
  const text = await waitFor(
    'the metrics to count both validations',
    async () => {
      const dumps = [...main.out().matchAll(/^metrics (.*)$/gm)].map((m) => JSON.parse(m[1]) as string);
      if (dumps.length === asked) {
        const last = dumps.at(-1);
        if (last !== undefined && /outcome="denied",app="trellis"\} 2/.test(last)) return last;
        main.proc.stdin.write('metrics\n');
        asked++;
      }
      return undefined;
    },
    10_000,
    50,
  );
  expect(text).toMatch(/trellis_webhook_requests_total\{path="\/validate",outcome="denied",app="trellis"\} 2/);
  expect(text).toMatch(/trellis_webhook_requests_total\{path="\/inject",outcome="allowed",app="trellis"\} 1/);
  expect(text).toMatch(/trellis_injection_seconds_count\{app="trellis"\} 1/);
});

test('a thread that dies is started again on the same port', async () => {
  main.proc.stdin.write('kill\n');
  await waitFor('the thread to die', async () => main.out().includes('killed\n'), 10_000, 20);
  await waitFor('a second thread', async () => main.out().includes('thread 2\n'), 15_000, 50);
  const answer = await review('/validate', badVirtualService);
  expect(answer.response.allowed).toBe(false);
  expect(answer.response.status?.message).toMatch(/destination\.host: host must not be empty/);
});

test('close ends the thread, and the child exits on its own', async () => {
  const exited = new Promise<number | null>((resolve) => main.proc.once('exit', resolve));
  main.proc.stdin.write('close\n');
  await waitFor('closed', async () => main.out().includes('closed\n'), 10_000, 20);
  main.proc.stdin.end();
  expect(await exited).toBe(0);
});

test('close returns while a dead thread waits to be started again, and none is started', async () => {
  const c = await spawnChild();
  const exited = new Promise<number | null>((resolve) => c.proc.once('exit', resolve));
  c.proc.stdin.write('kill\nclose\n');
  await waitFor('closed', async () => c.out().includes('closed\n'), 10_000, 20);
  c.proc.stdin.end();
  expect(await exited).toBe(0);
  expect(c.out()).not.toContain('thread 2');
});
