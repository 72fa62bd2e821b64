// The sidecar agent's memory: the resident set of the trellis-agent process (Go since
// 2026-12-04; Node.js before) of every pod of an injected namespace, read from /proc (the devcluster's containers are processes of this machine):
// VmRSS and its peak VmHWM, split into RssAnon (the process's own memory) and RssFile (mapped
// files, mostly the node binary's code, shared by every Node.js process on the host), and from
// smaps_rollup Pss (file pages divided among the processes sharing them) and USS (private).
// For scale it also measures an idle `node` with nothing loaded, the floor of any Node.js agent.
//
//   npx tsc && node dist/bench/agent-rss.js [--settle 30] [--samples 6] [--ttl 60s]
//
// Pod mode (default) needs the devcluster with Trellis installed (make cluster-up && make
// deploy): it creates bench-rss-<id> (injection on) with an echo Deployment, its Service and a
// client pod, proves mTLS end to end (the echo app sees the client's SPIFFE ID in
// x-forwarded-client-cert), waits --settle seconds, then samples every 5 s. With --ttl the pods
// ask for certificates of that lifetime (annotation sidecar.trellis.io/workloadCertTTL); the
// benchmark then also waits until every agent has logged a renewal and proves traffic again.
//
//   node dist/bench/agent-rss.js --local [--agent dist/agent/trellis-agent | path/to/agent.js] [--node-flags "--lite-mode --no-expose-wasm"]
//
// Local mode needs no cluster: a mesh CA in this process (TokenReview always says yes), one
// agent as a host process with its real Envoy (admin on 127.0.0.1:15000, so nothing else may
// use that port), e.g. to compare an older build of the agent (git archive <commit> | tar -x,
// npx tsc there: a Node.js agent is a .js file, run with --node-flags) or other V8 flags. Record results in BENCHMARKS.md with the machine and date.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MeshCa } from '../src/ca/authority.js';
import { addCertificateService } from '../src/ca/certificate-service.js';
import { TokenAuthenticator } from '../src/ca/token-review.js';
import { loggerFor, setLogLevel } from '../src/util/logger.js';
import { PROXY_NAME } from '../src/webhooks/inject.js';
import { clientPod, clusterAvailable, devcluster, echoDeployment, echoFrom, fetchInPod, kube, nodeContainerLog, pinnedVersion, root, run, testNamespace, waitFor } from '../test/support/cluster.js';

setLogLevel('error');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? '') : undefined;
}
const SETTLE_S = Number(arg('settle') ?? 30);
const SAMPLES = Number(arg('samples') ?? 6);
const TTL = arg('ttl');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Memory {
  rss: number;
  hwm: number;
  anon: number;
  file: number;
  pss: number;
  uss: number;
}

/** A process's memory in MiB (undefined once it is gone). */
function memoryOf(pid: number): Memory | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) / 1024;
    return {
      rss: kb(status, 'VmRSS'),
      hwm: kb(status, 'VmHWM'),
      anon: kb(status, 'RssAnon'),
      file: kb(status, 'RssFile'),
      pss: kb(rollup, 'Pss'),
      uss: kb(rollup, 'Private_Clean') + kb(rollup, 'Private_Dirty'),
    };
  } catch {
    return undefined;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Samples every 5 s; per process the median of each measure (and the last VmHWM). */
async function sample(pids: Map<string, number>): Promise<Map<string, Memory>> {
  const seen = new Map<string, Memory[]>();
  for (let i = 0; i < SAMPLES; i++) {
    if (i > 0) await sleep(5000);
    for (const [name, pid] of pids) {
      const m = memoryOf(pid);
      if (m) seen.set(name, [...(seen.get(name) ?? []), m]);
    }
  }
  const out = new Map<string, Memory>();
  for (const [name, ms] of seen) {
    const pick = (k: keyof Memory) => median(ms.map((m) => m[k]));
    out.set(name, { rss: pick('rss'), hwm: Math.max(...ms.map((m) => m.hwm)), anon: pick('anon'), file: pick('file'), pss: pick('pss'), uss: pick('uss') });
  }
  return out;
}

function table(rows: Map<string, Memory>): void {
  const f = (x: number) => x.toFixed(1).padStart(7);
  process.stdout.write(`${'process'.padEnd(56)}  VmRSS  VmHWM  RssAnon RssFile    Pss    USS   (MiB)\n`);
  for (const [name, m] of rows) process.stdout.write(`${name.padEnd(56)}${f(m.rss)}${f(m.hwm)}${f(m.anon)}${f(m.file)}${f(m.pss)}${f(m.uss)}\n`);
}

/** An idle Node.js process with nothing loaded, with `flags`: the floor of any Node.js agent. */
async function idleNode(flags: string[]): Promise<Memory | undefined> {
  const child = spawn(process.execPath, [...flags, '-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await sleep(3000);
  const m = memoryOf(child.pid!);
  child.kill('SIGKILL');
  return m;
}

function processEnv(pid: number): Record<string, string> {
  try {
    return Object.fromEntries(
      fs
        .readFileSync(`/proc/${pid}/environ`, 'utf8')
        .split('\0')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  } catch {
    return {};
  }
}

/** The host pids of the trellis-agent processes of `ns`, by pod name. */
function agentsOf(ns: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd: string;
    try {
      cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const argv0 = cmd.split('\0')[0] ?? '';
    if (!argv0.endsWith('trellis-agent') && !cmd.includes('sidecar/agent.js')) continue;
    const env = processEnv(Number(d));
    const how = argv0.endsWith('trellis-agent') ? 'Go' : `node ${cmd.split('\0').filter((a) => a.startsWith('--')).join(' ') || 'no flags'}`;
    if (env.POD_NAMESPACE === ns && env.POD_NAME) out.set(`${env.POD_NAME} (${how})`, Number(d));
  }
  return out;
}

/** The agent's log lines of a pod (the kubelet's file of its proxy container). */
function proxyLog(ns: string, pod: string): string {
  return nodeContainerLog(ns, pod, PROXY_NAME);
}

async function provesMtls(ns: string): Promise<string> {
  const id = `URI=spiffe://cluster.local/ns/${ns}/sa/default`;
  const replies = await waitFor(
    'mTLS from client to echo',
    async () => {
      const r = await echoFrom(`${ns}/client`, 'http://echo:8080/', 3);
      return r.length === 3 && r.every((x) => x.status === 200 && String(x.body?.headers?.['x-forwarded-client-cert'] ?? '').includes(id)) ? r : undefined;
    },
    90_000,
    1000,
  );
  return `3 × 200 from client to echo, x-forwarded-client-cert ${String(replies[0].body?.headers?.['x-forwarded-client-cert'])}`;
}

/** The serial of the workload certificate a pod's Envoy holds (its admin /certs). */
async function presentedSerial(ns: string, pod: string): Promise<string | undefined> {
  const r = await fetchInPod(`${ns}/${pod}`, 'http://127.0.0.1:15000/certs');
  try {
    const body = r.body as { certificates: { cert_chain?: { serial_number: string; subject_alt_names?: { uri?: string }[] }[] }[] };
    return body.certificates.flatMap((c) => c.cert_chain ?? []).find((c) => c.subject_alt_names?.some((n) => n.uri?.startsWith('spiffe://')))?.serial_number;
  } catch {
    return undefined;
  }
}

async function podMode(): Promise<void> {
  if (!clusterAvailable() || (await run(devcluster, ['status'])).code !== 0) {
    process.stderr.write('agent-rss: the devcluster is not running (make cluster-up && make deploy), or use --local\n');
    process.exit(1);
  }
  const { core, apps } = kube();
  const cp = await apps.readNamespacedDeployment({ namespace: 'trellis-system', name: 'trellis' }).catch(() => undefined);
  if (!cp?.status?.readyReplicas) {
    process.stderr.write('agent-rss: Trellis is not installed in the devcluster (make deploy), or use --local\n');
    process.exit(1);
  }
  const ns = testNamespace('bench-rss');
  const annotations = TTL ? { 'sidecar.trellis.io/workloadCertTTL': TTL } : undefined;
  const echo = echoDeployment(ns, 'echo', 1) as { spec: { template: { metadata: Record<string, unknown> } } };
  if (annotations) echo.spec.template.metadata.annotations = annotations;
  const client = clientPod(ns) as { metadata: Record<string, unknown> };
  if (annotations) client.metadata.annotations = annotations;
  await core.createNamespace({ body: { metadata: { name: ns, labels: { 'trellis-injection': 'enabled' } } } });
  try {
    const { objects } = kube();
    for (const o of [echo, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: ns }, spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }] } }, client]) await objects.create(o as never);
    const started = Date.now();
    await waitFor('the pods to be ready', async () => {
      const items = (await core.listNamespacedPod({ namespace: ns })).items;
      return items.length === 2 && items.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    }, 180_000, 500);
    process.stdout.write(`namespace ${ns}: pods ready after ${((Date.now() - started) / 1000).toFixed(1)} s; ${await provesMtls(ns)}\n`);
    const pods = (await core.listNamespacedPod({ namespace: ns })).items.map((p) => p.metadata!.name!);
    if (TTL) {
      const before = await Promise.all(pods.map((p) => presentedSerial(ns, p)));
      await waitFor('a renewal logged by every agent', async () => pods.every((p) => proxyLog(ns, p).includes('workload certificate renewed')), 180_000, 2000);
      const renewals = pods.map((p) => `${p}: ${proxyLog(ns, p).split('\n').filter((l) => l.includes('workload certificate renewed')).length}`);
      const after = await Promise.all(pods.map((p) => presentedSerial(ns, p)));
      const swapped = pods.map((p, i) => `${p} ${before[i] ?? '?'} -> ${after[i] ?? '?'}`);
      if (pods.some((_, i) => !after[i] || after[i] === before[i])) throw new Error(`an Envoy did not get its renewed certificate: ${swapped.join(', ')}`);
      process.stdout.write(`certificates of ${TTL}: renewals logged (${renewals.join(', ')}); serials in Envoy ${swapped.join(', ')}; after renewal: ${await provesMtls(ns)}\n`);
    }
    const remaining = SETTLE_S * 1000 - (Date.now() - started);
    if (remaining > 0) await sleep(remaining);
    const agents = agentsOf(ns);
    if (agents.size !== 2) throw new Error(`expected 2 trellis-agent processes in ${ns}, found ${agents.size}`);
    const rows = await sample(agents);
    for (const [name, flags] of [['idle node (nothing loaded)', []], ['idle node --lite-mode (nothing loaded)', ['--lite-mode', '--no-expose-wasm']]] as const) {
      const m = await idleNode([...flags]);
      if (m) rows.set(name, m);
    }
    table(rows);
  } finally {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  }
}

async function localMode(): Promise<void> {
  const agent = path.resolve(arg('agent') || path.join(root, 'dist/agent/trellis-agent'));
  // A Node.js agent (an older build) runs under node with V8's flags; the Go agent by itself.
  const isNode = agent.endsWith('.js');
  const flags = isNode ? (arg('node-flags') ?? '--lite-mode --no-expose-wasm').split(/\s+/).filter(Boolean) : [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-rss-'));
  const ca = await MeshCa.create({ trustDomain: 'cluster.local' });
  const serving = await ca.issueServing(['trellis.trellis-system.svc'], 1, { ips: ['127.0.0.1'] });
  const server = new grpc.Server();
  const yes = async () => ({ authenticated: true, audiences: ['istio-ca'], user: { username: 'system:serviceaccount:bench:default' } });
  addCertificateService(server, { ca, tokens: new TokenAuthenticator(yes, { maxEntries: 0 }), trustDomain: 'cluster.local', log: loggerFor('bench') });
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(serving.cert), private_key: Buffer.from(serving.key) }], false);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  fs.writeFileSync(path.join(dir, 'root.pem'), ca.rootPem);
  fs.writeFileSync(path.join(dir, 'token'), 'bench');
  const env = {
    ...process.env,
    NODE_ENV: 'production',
    POD_NAME: 'bench',
    POD_NAMESPACE: 'bench',
    INSTANCE_IP: '127.0.0.1',
    TRELLIS_DISCOVERY_ADDRESS: `127.0.0.1:${port}`,
    TRELLIS_TOKEN_FILE: path.join(dir, 'token'),
    TRELLIS_ROOT_CERT: path.join(dir, 'root.pem'),
    TRELLIS_SDS_SOCKET: path.join(dir, 'sds.sock'),
    TRELLIS_CONFIG_DIR: path.join(dir, 'config'),
    TRELLIS_LABELS_FILE: path.join(dir, 'labels'),
    TRELLIS_ENVOY: path.join(root, `.devcluster/cache/envoy-${pinnedVersion('ENVOY_VERSION')}/envoy`),
    TRELLIS_BOOTSTRAP: `${process.execPath} ${path.join(root, 'dist/src/sidecar/bootstrap-cli.js')}`,
    ...(TTL ? { TRELLIS_CERT_TTL_SECONDS: String(parseInt(TTL, 10)) } : {}),
  };
  fs.writeFileSync(path.join(dir, 'labels'), 'app="bench"\n');
  const log = fs.openSync(path.join(dir, 'agent.log'), 'w');
  const child: ChildProcess = isNode ? spawn(process.execPath, [...flags, agent], { env, stdio: ['ignore', log, log] }) : spawn(agent, [], { env, stdio: ['ignore', log, log] });
  try {
    await waitFor('the agent to start Envoy', async () => fs.readFileSync(path.join(dir, 'agent.log'), 'utf8').includes('starting envoy'), 30_000, 100);
    await sleep(SETTLE_S * 1000);
    if (child.exitCode !== null) throw new Error(`the agent exited: ${fs.readFileSync(path.join(dir, 'agent.log'), 'utf8')}`);
    const rows = await sample(new Map([[isNode ? `agent (node ${flags.join(' ') || 'no flags'})` : 'agent (Go)', child.pid!]]));
    if (isNode) {
      const m = await idleNode(flags);
      if (m) rows.set(`idle node ${flags.join(' ')} (nothing loaded)`, m);
    }
    process.stdout.write(`${agent}\n`);
    table(rows);
    const renewals = fs.readFileSync(path.join(dir, 'agent.log'), 'utf8').split('\n').filter((l) => l.includes('workload certificate renewed')).length;
    if (TTL) process.stdout.write(`renewals logged: ${renewals}\n`);
  } finally {
    // The agent's Envoy (its child) first, while it is still the agent's child.
    for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        if (fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1] === String(child.pid)) process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    child.kill('SIGKILL');
    server.forceShutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

process.stdout.write(`agent-rss: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, ${new Date().toISOString()}\n`);
await (process.argv.includes('--local') ? localMode() : podMode());
process.exit(0);
