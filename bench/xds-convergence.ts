// Convergence latency of the xDS server: from a change in the snapshot provider (a route's
// weights, as a VirtualService edit becomes) until every connected proxy has ACKed the new
// RouteConfiguration (the server's `ack` events, matched on the resource's content version).
// With real Envoys (--disable-hot-restart, admin on port 0) and with simulated ADS clients
// (test/support/ads-client.ts, one stream and one connection each) run in a child process,
// so CPU time and heap measured here are the server's alone.
//
//   npx tsc && node dist/bench/xds-convergence.js [--envoys 1,10,100] [--clients 1000] [--rounds 50] [--protocol sotw|delta]
//
// The push is started directly (server.push), as the push queue does for an isolated change
// (the adaptive debouncer does not delay an isolated change). Record results in BENCHMARKS.md.
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { setLogLevel } from '../src/util/logger.js';
import { registry } from '../src/util/metrics.js';
import { contentHash } from '../src/xds/encoded-resource.js';
import type { AckEvent } from '../src/xds/events.js';
import { encodeMessage } from '../src/xds/protos.js';
import { StaticSnapshotProvider, type Snapshot } from '../src/xds/snapshot.js';
import { XdsServer } from '../src/xds/server.js';
import { AdsClient } from '../test/support/ads-client.js';
import { bootstrap, Envoy } from '../test/support/envoy.js';
import { edsCluster, endpoints, httpListener, routeConfiguration } from '../test/support/envoy-resources.js';
import { messageName, TypeUrl, type RouteConfiguration } from '../src/xds/types.js';

const { Cluster, Endpoint, Listener, Route } = TypeUrl;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}
const list = (s: string) => s.split(',').map(Number).filter((n) => n > 0);

const ROUTE = 'r';
const nodeId = (kind: string, i: number) => `sidecar~127.0.${(i >> 8) & 255}.${i & 255}~${kind}-${i}.default~default.svc.cluster.local`;

function route(weightA: number): RouteConfiguration {
  return routeConfiguration(ROUTE, [{ prefix: '/', weights: { a: weightA, b: 100 - weightA } }]);
}

/** The content version the server gives a RouteConfiguration (what an ACK must carry). */
function versionOf(r: RouteConfiguration): string {
  return contentHash(Route, encodeMessage(messageName(Route), r));
}

function snapshot(): Snapshot {
  // The listener does not bind (many Envoys on one machine); routes over RDS like a sidecar's.
  return {
    [Cluster]: new Map(['a', 'b'].map((c) => [c, edsCluster(c)])),
    [Endpoint]: new Map(['a', 'b'].map((c, i) => [c, endpoints(c, [{ host: '127.0.0.1', port: 9000 + i }])])),
    [Listener]: new Map([['http', { ...httpListener('http', 15001, ROUTE, { host: '0.0.0.0' }), bind_to_port: { value: false } }]]),
    [Route]: new Map([[ROUTE, route(50)]]),
  };
}

/** Resolves once every proxy in `ids` has ACKed route `r` at `version`. */
function allAcked(server: XdsServer, ids: ReadonlySet<string>, version: string, timeoutMs: number): Promise<void> {
  const pending = new Set(ids);
  return new Promise((resolve, reject) => {
    const onAck = (e: AckEvent): void => {
      if (e.typeUrl !== Route || !pending.has(e.proxy.id)) return;
      if (!e.resources.some((r) => r.name === ROUTE && r.version === version)) return;
      pending.delete(e.proxy.id);
      if (pending.size === 0) done();
    };
    const timer = setTimeout(() => {
      server.events.off('ack', onAck);
      reject(new Error(`${pending.size} of ${ids.size} proxies did not ACK version ${version} in ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      server.events.off('ack', onAck);
      resolve();
    };
    server.events.on('ack', onAck);
  });
}

async function counter(name: string): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (m?.values ?? []).reduce((n, v) => n + v.value, 0);
}
const bytesSent = () => counter('trellis_xds_bytes_sent_total');
const responsesSent = () => counter('trellis_xds_pushes_total');

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** A full GC, with or without --expose-gc (so `make bench` needs no flag). */
const gc: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
})();

function heap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

interface Result {
  label: string;
  proxies: number;
  connectMs: number;
  p50: number;
  p99: number;
  /** server.push() resolved: every response written to its stream. */
  writtenP50: number;
  responses: number;
  max: number;
  cpuMs: number;
  bytes: number;
  heapPerProxy: number;
  /** CPU of all the proxy processes during a round (p50), and while idle for a second. */
  proxyCpuMs: number;
  proxyIdleCpuMsPerSecond: number;
}

/** User + system CPU time (ms) of the processes `pids`, from /proc (clock ticks of 10 ms). */
function processCpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields 14 and 15 (utime, stime) after the parenthesised command name.
      const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process is gone: it contributes nothing more.
    }
  }
  return ticks * 10;
}

interface Connected {
  disconnect: () => Promise<void>;
  /** The proxies' operating-system processes (for their CPU time). */
  pids: number[];
}

/** Starts a server, connects `n` proxies with `connect`, measures `rounds` route changes. */
async function run(label: string, n: number, rounds: number, connect: (target: string, ids: string[]) => Promise<Connected>): Promise<Result> {
  const provider = new StaticSnapshotProvider(snapshot());
  const server = new XdsServer({ provider, concurrency: 64 });
  const target = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
  const ids = Array.from({ length: n }, (_, i) => nodeId(label.split(' ')[0], i));
  const heap0 = heap();
  const t0 = performance.now();
  const initial = allAcked(server, new Set(ids), versionOf(route(50)), 600_000);
  const { disconnect, pids } = await connect(target, ids);
  await initial;
  const connectMs = performance.now() - t0;
  const heapPerProxy = (heap() - heap0) / n;
  const idle0 = processCpuMs(pids);
  await new Promise((r) => setTimeout(r, 1000));
  const proxyIdleCpuMsPerSecond = processCpuMs(pids) - idle0;

  const latencies: number[] = [];
  const cpu: number[] = [];
  const bytes: number[] = [];
  const written: number[] = [];
  const responses: number[] = [];
  const proxyCpu: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const next = route(10 + (round % 80));
    const acked = allAcked(server, new Set(ids), versionOf(next), 60_000);
    const b0 = await bytesSent();
    const r0 = await responsesSent();
    const p0 = processCpuMs(pids);
    const c0 = process.cpuUsage();
    const start = performance.now();
    provider.update({ [Route]: new Map([[ROUTE, next]]) });
    const pushed = server.push({ reason: 'config', types: [Route] }).then(() => written.push(performance.now() - start));
    await acked;
    latencies.push(performance.now() - start);
    await pushed;
    const c1 = process.cpuUsage(c0);
    proxyCpu.push(processCpuMs(pids) - p0);
    cpu.push((c1.user + c1.system) / 1000);
    bytes.push((await bytesSent()) - b0);
    responses.push((await responsesSent()) - r0);
    await new Promise((r) => setTimeout(r, 20));
  }
  await disconnect();
  await server.close();
  return {
    label,
    proxies: n,
    connectMs,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    writtenP50: percentile(written, 50),
    responses: percentile(responses, 50),
    max: Math.max(...latencies),
    cpuMs: percentile(cpu, 50),
    bytes: percentile(bytes, 50),
    heapPerProxy,
    proxyCpuMs: proxyCpu.reduce((a, b) => a + b, 0) / proxyCpu.length,
    proxyIdleCpuMsPerSecond,
  };
}

async function envoys(target: string, ids: string[], protocol: 'sotw' | 'delta'): Promise<Connected> {
  const xdsPort = Number(target.split(':')[1]);
  const started: Envoy[] = [];
  const apiType = protocol === 'delta' ? 'DELTA_GRPC' : 'GRPC';
  try {
    for (let i = 0; i < ids.length; i += 10) {
      started.push(...(await Promise.all(ids.slice(i, i + 10).map((nodeId) => Envoy.start(bootstrap({ nodeId, xdsPort, apiType }), { logLevel: 'error' })))));
    }
  } catch (err) {
    await Promise.all(started.map((e) => e.stop()));
    throw err;
  }
  return { disconnect: async () => void (await Promise.all(started.map((e) => e.stop()))), pids: started.flatMap((e) => (e.pid ? [e.pid] : [])) };
}

/** Simulated proxies in a child process (this file with --worker). */
async function simulated(target: string, ids: string[], protocol: 'sotw' | 'delta'): Promise<Connected> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--worker', target, String(ids.length), protocol], { stdio: 'inherit' });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`worker exited (${code})`)));
  });
  const disconnect = async (): Promise<void> => {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  return { disconnect, pids: child.pid ? [child.pid] : [] };
}

async function worker(): Promise<void> {
  const i = process.argv.indexOf('--worker');
  const [target, count, protocol] = [process.argv[i + 1], Number(process.argv[i + 2]), process.argv[i + 3] as 'sotw' | 'delta'];
  setLogLevel('error');
  const clients: AdsClient[] = [];
  for (let p = 0; p < count; p++) {
    const c = new AdsClient(target, { node: { id: nodeId('simulated', p) }, protocol, channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
    c.subscribe(Cluster, []);
    c.subscribe(Endpoint, ['a', 'b']);
    c.subscribe(Listener, []);
    c.subscribe(Route, [ROUTE]);
    clients.push(c);
  }
  process.send?.('connecting');
  process.on('SIGTERM', () => {
    for (const c of clients) c.close();
    process.exit(0);
  });
}

async function main(): Promise<void> {
  if (process.argv.includes('--worker')) return worker();
  setLogLevel('error');
  const rounds = Number(arg('rounds', '50'));
  const protocol = arg('protocol', 'sotw') as 'sotw' | 'delta';
  console.log(`xds-convergence: ${protocol}, ${rounds} route changes per run, node ${process.version}, ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const results: Result[] = [];
  for (const n of list(arg('envoys', '1,10,100'))) {
    results.push(await run('envoy (real)', n, rounds, (t, ids) => envoys(t, ids, protocol)));
    console.log(row(results[results.length - 1]));
  }
  for (const n of list(arg('clients', '1000'))) {
    results.push(await run('simulated ADS clients', n, rounds, (t, ids) => simulated(t, ids, protocol)));
    console.log(row(results[results.length - 1]));
  }
  console.log('\n| proxies | kind | connect + initial config | convergence p50 | p99 | max | all written (p50) | server CPU per push (p50) | responses per push | bytes per push (p50) | server heap per proxy | proxy CPU per push (mean) | proxy idle CPU |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) console.log(row(r));
  console.log(`load average at the end: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

function row(r: Result): string {
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  return `| ${r.proxies} | ${r.label} | ${(r.connectMs / 1000).toFixed(1)} s | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${ms(r.writtenP50)} | ${ms(r.cpuMs)} | ${r.responses} | ${Math.round(r.bytes)} B (${Math.round(r.bytes / r.proxies)} B/proxy) | ${(r.heapPerProxy / 1024).toFixed(1)} KiB | ${ms(r.proxyCpuMs)} | ${r.proxyIdleCpuMsPerSecond} ms/s |`;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
