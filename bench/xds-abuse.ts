// The control plane under each abuse the xDS limits stop (issue 18): its resident memory and the
// push latency to 100 well-behaved clients while one client misbehaves, and, for a reconnect
// storm of new clients, how the admission rate trades the storm's own sync time against the
// pushes to the clients already connected.
//
//   npx tsc && node dist/bench/xds-abuse.js [--healthy 100] [--rounds 5] [--storm 1000]
//                                           [--admission-rates 200,50,100000]
//
// The real control plane process (dist/src/main.js) against the devcluster's API server
// (make cluster-up), started once per admission rate; every client authenticates with a service
// account token over TLS (15012). A push is a new Service: its latency is from the create call
// until every healthy client holds the new cluster (the API server's watch and the control
// plane's debounce included). Clients and abusers run in this process, the control plane in its
// own: the RSS and CPU reported are the control plane's (/proc). Record results in BENCHMARKS.md.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { AdsClient } from '../test/support/ads-client.js';
import { TypeUrl } from '../src/xds/types.js';
import { kube, testNamespace } from '../test/support/cluster.js';
import { startControlPlane, type RunningControlPlane } from '../test/support/control-plane.js';
import { createServiceAccount, serviceAccountToken } from '../test/support/tokens.js';
import { arg } from './args.js';

const healthyCount = arg('healthy', 100);
const rounds = arg('rounds', 5);
const stormSize = arg('storm', 1000);
const rateArg = process.argv.indexOf('--admission-rates');
const admissionRates = (rateArg > 0 ? process.argv[rateArg + 1] : '200,50,100000').split(',').map(Number);

const ns = testNamespace('bench-xds-abuse');
const { core } = kube();
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let cp: RunningControlPlane;
let rootCa = '';
const tokens: Record<string, string> = {};
let services = 0;

function node(pod: string): object {
  return { id: `sidecar~10.250.0.1~${pod}.${ns}~${ns}.svc.cluster.local`, metadata: { fields: { NAMESPACE: { stringValue: ns } } } };
}

function client(pod: string, token: string, connection: string, manual = false): AdsClient {
  return new AdsClient(cp.xdsTlsAddress, {
    node: node(pod) as never,
    tls: { rootCa, serverName: `trellis.${ns}.svc` },
    token,
    manual,
    history: false,
    channelOptions: { 'bench.connection': connection },
  });
}

function cpStatus(): { rss: number; cpuMs: number } {
  const status = fs.readFileSync(`/proc/${cp.proc.pid}/status`, 'utf8');
  const stat = fs.readFileSync(`/proc/${cp.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { rss: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]) / 1024, cpuMs: ((Number(stat[11]) + Number(stat[12])) * 1000) / 100 };
}

/** One push: a new Service until every healthy client holds its cluster; milliseconds. */
async function push(healthy: AdsClient[]): Promise<number> {
  const name = `svc-${++services}`;
  const cluster = `outbound|80||${name}.${ns}.svc.cluster.local`;
  const t = performance.now();
  await core.createNamespacedService({ namespace: ns, body: { metadata: { name }, spec: { ports: [{ name: 'http', port: 80 }] } } });
  await Promise.all(healthy.map((c) => c.until('the push', () => c.names(TypeUrl.Cluster).includes(cluster), 60_000)));
  return performance.now() - t;
}

/** Repeats `attack` (each call one abusive stream, awaited) until stopped; counts the refusals seen. */
function loop(attack: () => Promise<string>): { stop: () => Promise<{ runs: number; refusals: Map<string, number> }> } {
  let running = true;
  const refusals = new Map<string, number>();
  let runs = 0;
  const done = (async () => {
    while (running) {
      const error = await attack();
      runs++;
      const code = /^\d+ ([A-Z_]+)/.exec(error)?.[1] ?? (error ? 'other' : 'none');
      refusals.set(code, (refusals.get(code) ?? 0) + 1);
      await sleep(10);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return { runs, refusals };
    },
  };
}

async function endedWith(c: AdsClient, ms = 30_000): Promise<string> {
  await c.until('the end', () => c.error !== undefined, ms).catch(() => undefined);
  c.close();
  return c.error?.message ?? '';
}

let attackSeq = 0;
const ATTACKS: Record<string, () => Promise<string>> = {
  'a 60 MiB request': () => {
    const c = client(`big-${++attackSeq}`, tokens.attacker, 'attack');
    c.send({ type_url: TypeUrl.Cluster, resource_names: ['x'.repeat(60 * 1024 * 1024)] });
    return endedWith(c);
  },
  'a NACK with a 3 MiB error': async () => {
    const c = client(`nack-${++attackSeq}`, tokens.attacker, 'attack', true);
    c.subscribe(TypeUrl.Cluster, []);
    await c.until('a response', () => c.responseCount(TypeUrl.Cluster) > 0, 30_000).catch(() => undefined);
    c.nack(TypeUrl.Cluster, 'E'.repeat(3 * 1024 * 1024));
    await sleep(200);
    c.close();
    return '';
  },
  '100,000 subscribed names': () => {
    const c = client(`names-${++attackSeq}`, tokens.attacker, 'attack');
    c.subscribe(TypeUrl.Endpoint, Array.from({ length: 100_000 }, (_, i) => `n${i}`));
    return endedWith(c);
  },
  'a request flood (5,000 requests)': () => {
    const c = client(`flood-${++attackSeq}`, tokens.attacker, 'attack', true);
    c.subscribe(TypeUrl.Cluster, []);
    for (let i = 0; i < 5000; i++) c.send({ type_url: TypeUrl.Cluster, resource_names: [], response_nonce: 'stale' });
    return endedWith(c);
  },
};

async function scenario(name: string, healthy: AdsClient[], attack?: () => Promise<string>): Promise<void> {
  const abuse = attack ? loop(attack) : undefined;
  await sleep(attack ? 1000 : 0);
  const lat: number[] = [];
  let peak = 0;
  const cpu0 = cpStatus().cpuMs;
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) {
    lat.push(await push(healthy));
    peak = Math.max(peak, cpStatus().rss);
  }
  const cpu = (cpStatus().cpuMs - cpu0) / (performance.now() - t0);
  const seen = abuse ? await abuse.stop() : undefined;
  const refused = seen ? [...seen.refusals].map(([k, v]) => `${k} ${v}`).join(', ') : '';
  console.log(`| ${name} | ${pct(lat, 50).toFixed(0)} | ${Math.max(...lat).toFixed(0)} | ${peak.toFixed(0)} | ${cpu.toFixed(2)} | ${seen ? `${seen.runs}: ${refused}` : '—'} |`);
}

/** 1,000 streams of one identity over 20 connections, held while the pushes run. */
async function manyStreams(healthy: AdsClient[]): Promise<void> {
  const clients = Array.from({ length: 1000 }, (_, i) => client(`many-${i}`, tokens.attacker, `many-${i % 20}`));
  for (const c of clients) c.subscribe(TypeUrl.Cluster, []);
  await sleep(5000);
  await scenario(`1,000 streams held (${clients.filter((c) => c.error?.message.includes('RESOURCE_EXHAUSTED')).length} refused)`, healthy);
  for (const c of clients) c.close();
}

/**
 * `stormSize` new clients at once, from a child process (so their TLS handshakes do not slow this
 * one's healthy clients), while pushes go to the healthy ones.
 */
async function storm(healthy: AdsClient[], rate: number): Promise<void> {
  const cpu0 = cpStatus().cpuMs;
  const child = fork(fileURLToPath(import.meta.url), ['--storm-worker', JSON.stringify({ address: cp.xdsTlsAddress, rootCa, token: tokens.storm, ns, size: stormSize })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let stormMs: number | undefined;
  const synced = new Promise<void>((resolve) =>
    child.on('message', (m: { syncedMs?: number }) => {
      if (m.syncedMs === undefined) return;
      stormMs = m.syncedMs;
      resolve();
    }),
  );
  await new Promise<void>((resolve) => child.once('message', () => resolve())); // "started"
  // Pushes for as long as the storm lasts (and at least `rounds`).
  const lat: number[] = [];
  let peak = 0;
  for (let i = 0; i < rounds || stormMs === undefined; i++) {
    lat.push(await push(healthy));
    peak = Math.max(peak, cpStatus().rss);
  }
  await synced;
  peak = Math.max(peak, cpStatus().rss);
  const cpu = cpStatus().cpuMs - cpu0;
  child.kill();
  console.log(`| storm of ${stormSize} new clients, admission ${rate}/s | ${pct(lat, 50).toFixed(0)} | ${Math.max(...lat).toFixed(0)} | ${peak.toFixed(0)} | ${(cpu / 1000).toFixed(1)} s in all | all synced in ${((stormMs ?? NaN) / 1000).toFixed(1)} s; ${lat.length} pushes |`);
}

/** The child of `storm`: opens the clients, says "started", then the time until all are synced. */
async function stormWorker(job: { address: string; rootCa: string; token: string; ns: string; size: number }): Promise<void> {
  process.send?.('started');
  const t = performance.now();
  const clients = Array.from({ length: job.size }, (_, i) =>
    new AdsClient(job.address, {
      node: { id: `sidecar~10.250.1.1~storm-${i}.${job.ns}~${job.ns}.svc.cluster.local`, metadata: { fields: { NAMESPACE: { stringValue: job.ns } } } } as never,
      tls: { rootCa: job.rootCa, serverName: `trellis.${job.ns}.svc` },
      token: job.token,
      history: false,
      channelOptions: { 'bench.connection': `storm-${i % 50}` },
    }),
  );
  for (const c of clients) c.subscribe(TypeUrl.Cluster, []);
  await Promise.all(clients.map((c) => c.until('synced', () => c.size(TypeUrl.Cluster) > 0, 300_000)));
  process.send?.({ syncedMs: performance.now() - t });
  await sleep(600_000);
}

async function run(rate: number): Promise<void> {
  cp = await startControlPlane({ namespace: ns, validatingConfig: `trellis-validator-${ns}`, extraArgs: ['--xds-admission-rate', String(rate), '--log-level', 'error'] });
  try {
    const secret = await core.readNamespacedSecret({ namespace: ns, name: 'istio-ca-secret' });
    rootCa = Buffer.from(secret.data?.['ca-cert.pem'] ?? '', 'base64').toString();
    const healthy = Array.from({ length: healthyCount }, (_, i) => client(`healthy-${i}`, tokens.good, `healthy-${i % 10}`));
    for (const c of healthy) c.subscribe(TypeUrl.Cluster, []);
    await Promise.all(healthy.map((c) => c.until('the first configuration', () => c.size(TypeUrl.Cluster) > 0, 60_000)));
    console.log(`\nadmission rate ${rate}/s; ${healthyCount} healthy clients; control plane RSS ${cpStatus().rss.toFixed(0)} MiB after their sync\n`);
    console.log('| while | push p50 ms | push max ms | control plane RSS peak MiB | control plane CPU (vCPU) | abusive streams: how they ended |');
    console.log('|---|---:|---:|---:|---:|---|');
    if (rate === admissionRates[0]) {
      await scenario('nothing (baseline)', healthy);
      for (const [name, attack] of Object.entries(ATTACKS)) await scenario(name, healthy, attack);
      await manyStreams(healthy);
    }
    await storm(healthy, rate);
    for (const c of healthy) c.close();
  } finally {
    await cp.stop();
  }
}

async function main(): Promise<void> {
  await core.createNamespace({ body: { metadata: { name: ns } } });
  try {
    for (const sa of ['good', 'attacker', 'storm']) {
      await createServiceAccount(ns, sa);
      tokens[sa] = await serviceAccountToken(ns, sa, { audiences: ['istio-ca'], expirationSeconds: 3600 });
    }
    for (const rate of admissionRates) await run(rate);
  } finally {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  }
}

const workerArg = process.argv.indexOf('--storm-worker');
(workerArg > 0 ? stormWorker(JSON.parse(process.argv[workerArg + 1]) as never) : main()).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
