// bench/vs-istiod: Trellis and istiod side by side on the devcluster, one control plane at a time,
// the same objects and the same simulated sidecars (what is measured, and how, and the results:
// BENCHMARKS.md, "vs-istiod").
//
//   bench/vs-istiod/build-istiod.sh && npx tsc -p tsconfig.json && \
//   KUBECONFIG=.devcluster/kubeconfig node dist/bench/vs-istiod/main.js \
//     [--clients 100,1000] [--services 200] [--rounds 30] [--burst 50] [--control-planes istiod,trellis]
//     [--settle-ms 500] [--out FILE.json] [--keep] [--trellis-xds HOST:PORT --trellis-pid PID]
//     [--client go|node] [--protocol sotw|delta] [--endpoints 2] [--churn-rate 50] [--churn-seconds 10]
//     [--trellis-webhooks aside|kept] [--istiod-cpu-weight pod|host]
//
// Needs: the devcluster (or any cluster the KUBECONFIG names, with Trellis installed by its
// chart in trellis-system), pilot-discovery built by build-istiod.sh. It scales Trellis to 0
// while istiod runs, adds the flags its plaintext port needs (see trellis.ts) and puts back
// the replicas and flags it found; it creates and deletes the namespaces vs-istiod and
// vs-istiod-system.
import { execFileSync } from 'node:child_process';
import { AdmissionregistrationV1Api } from '@kubernetes/client-node';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kube, root } from '../../test/support/cluster.js';
import { buildGoTool } from '../go-tool.js';
import { BenchApi, now, WRITABLE_KINDS } from './api.js';
import { SimulatedSidecars, type WireCounters } from './clients.js';
import { placeLikeTrellisPod, release, TRELLIS_POD_SHARES } from './cpu-weight.js';
import { Istiod } from './istiod.js';
import { addressBytes, baseMarker, churnIp, edsClusterName, NAMESPACE } from './mesh.js';
import { printReport, type Run } from './report.js';
import { maxOf, percentile, sampleProcess, summarize, type ProcessSample } from './stats.js';
import { Trellis } from './trellis.js';

const USAGE = `bench/vs-istiod: Trellis and istiod side by side on the devcluster (BENCHMARKS.md, "vs-istiod")

  KUBECONFIG=.devcluster/kubeconfig node dist/bench/vs-istiod/main.js [options]

It scales the chart's Trellis to 0 while istiod runs and puts it back; it creates and deletes the
namespaces vs-istiod and vs-istiod-system. Needs Trellis installed by its chart (make deploy) and
pilot-discovery (bench/vs-istiod/build-istiod.sh).

  --clients 100,1000           simulated sidecars per run (one run each)
  --services 200               Services, EndpointSlices and VirtualServices created
  --rounds 30                  single VirtualService changes timed
  --burst 50                   changes in the burst
  --control-planes istiod,trellis   which, in this order
  --settle-ms 500              quiet time before each timed change
  --out FILE.json              the results, for --report
  --report FILE.json           print a saved run's tables and exit
  --keep                       leave the objects and namespaces in place
  --client go|node             the simulated sidecars (default go)
  --protocol sotw|delta        their xDS (delta: Go clients only)
  --endpoints 2                endpoints per service
  --churn-rate 50 --churn-seconds 10   endpoint churn after the burst (Go clients; 0 seconds: none)
  --trellis-webhooks aside|kept       Trellis's admission webhooks during its turn
  --trellis-xds HOST:PORT --trellis-pid PID   a Trellis run by hand instead of the chart's
  --istiod-cpu-weight pod|host  istiod's cgroup weight: the Trellis pod's (default) or the host's
  -h, --help                   this help
`;
const FLAGS = new Set(['--keep', '--help', '-h']);
const OPTIONS = new Set(['clients', 'services', 'rounds', 'burst', 'control-planes', 'settle-ms', 'out', 'report', 'client', 'protocol', 'endpoints', 'churn-rate', 'churn-seconds', 'trellis-webhooks', 'trellis-xds', 'trellis-pid', 'istiod-cpu-weight'].map((o) => `--${o}`));
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
// A mistyped option must not start a run that scales the installed control plane down.
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (FLAGS.has(a)) continue;
  if (OPTIONS.has(a) && i + 1 < process.argv.length) {
    i++;
    continue;
  }
  process.stderr.write(`vs-istiod: ${OPTIONS.has(a) ? `${a} needs a value` : `unknown argument ${JSON.stringify(a)}`} (see --help)\n`);
  process.exit(2);
}

function opt(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}
const CLIENTS = opt('clients', '100,1000').split(',').map(Number);
const SERVICES = Number(opt('services', '200'));
const ROUNDS = Number(opt('rounds', '30'));
const BURST = Number(opt('burst', '50'));
const PLANES = opt('control-planes', 'istiod,trellis').split(',') as ('istiod' | 'trellis')[];
const SETTLE_MS = Number(opt('settle-ms', '500'));
const OUT = opt('out', '');
const KEEP = process.argv.includes('--keep');
/** The simulated sidecars: bench/xds-client (Go, the default) or client-worker.ts (Node.js, the first runs'). */
const CLIENT = opt('client', 'go');
/** The simulated sidecars' xDS: state of the world (as first measured) or delta (Envoy's under Istio's agent; Go clients only). */
const PROTOCOL = opt('protocol', 'sotw') as 'sotw' | 'delta';
/** Endpoints per service (EndpointSlice addresses). */
const ENDPOINTS = Number(opt('endpoints', '2'));
/** Endpoint churn after the burst: pod changes per second for this many seconds (Go clients only; 0 seconds: none). */
const CHURN_RATE = Number(opt('churn-rate', '50'));
const CHURN_SECONDS = Number(opt('churn-seconds', CLIENT === 'go' ? '10' : '0'));
/**
 * Trellis's admission webhooks during its turn: set aside (default), as istiod runs here without
 * its own (the API server's write path is then the same for both), or kept as the chart installs them.
 */
const TRELLIS_WEBHOOKS = opt('trellis-webhooks', 'aside');
if (TRELLIS_WEBHOOKS !== 'aside' && TRELLIS_WEBHOOKS !== 'kept') throw new Error(`--trellis-webhooks: "aside" or "kept", not "${TRELLIS_WEBHOOKS}"`);
/** Services whose second endpoint the churn moved (put back before the next run), and the addresses used so far. */
const movedEndpoints = new Set<number>();
let churnSeq = 0;
/** A Trellis already running elsewhere (e.g. a host process for a dry run): its plaintext xDS address and PID; the Deployment is then left alone. */
const TRELLIS_XDS = opt('trellis-xds', '');
const TRELLIS_PID = Number(opt('trellis-pid', '0'));
/**
 * istiod's CPU weight: `pod` (the default when Trellis runs in its pod) moves istiod into a cgroup
 * beside the pods with the shares of Trellis's pod (cpu-weight.ts: a host process otherwise weighs
 * as much per busy thread as all the pods together); `host` leaves it a host process (the default
 * with --trellis-xds, where Trellis is a host process too).
 */
const ISTIOD_CPU_WEIGHT = opt('istiod-cpu-weight', TRELLIS_XDS ? 'host' : 'pod');
if (ISTIOD_CPU_WEIGHT !== 'pod' && ISTIOD_CPU_WEIGHT !== 'host') throw new Error(`--istiod-cpu-weight: "pod" or "host", not "${ISTIOD_CPU_WEIGHT}"`);
const ISTIOD_NS = 'vs-istiod-system';
const PORTS = { grpcPort: 18010, httpPort: 18080, monitoringPort: 18014 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string): void => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

function versions(): Record<string, string> {
  const text = fs.readFileSync(path.join(root, 'bench/vs-istiod/versions.env'), 'utf8');
  return Object.fromEntries([...text.matchAll(/^([A-Z_]+)=(\S+)/gm)].map((m) => [m[1], m[2]]));
}

function istiodBinary(version: string): string {
  const p = path.join(process.env.DEVCLUSTER_CACHE ?? path.join(root, '.devcluster/cache'), `istiod-${version}`, 'pilot-discovery');
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: run bench/vs-istiod/build-istiod.sh first`);
  return p;
}

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? '?';
  return `${os.cpus().length} CPUs (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.type()} ${os.release()}, Node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`;
}

const diff = (a: WireCounters, b: WireCounters): WireCounters => ({ wireBytes: b.wireBytes - a.wireBytes, resourceBytes: b.resourceBytes - a.resourceBytes, responses: b.responses - a.responses });

/** One control plane, N clients: sync, single changes, a burst. */
async function measure(plane: 'istiod' | 'trellis', n: number, target: string, pid: number, api: BenchApi, changed: Set<number>, token: string, goWorker: string | undefined): Promise<Run> {
  const cpu = (): ProcessSample => sampleProcess(pid);
  const idle0 = cpu();
  await sleep(2000);
  const idleCpuPerSecond = (cpu().cpuSeconds - idle0.cpuSeconds) / 2;
  const { ISTIO_VERSION_LABEL } = versions();
  const before = cpu();
  const t0 = now();
  const clients = new SimulatedSidecars(target, n, SERVICES, `${ISTIO_VERSION_LABEL.replace(/-dev$/, '')}.0`, goWorker, PROTOCOL);
  let lastLog = 0;
  try {
    const sync = await clients.synced(3_600_000, (m) => {
      if (m.errors < 0) return;
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        log(`  ${plane}: ${m.connected} connected, ${m.synced}/${n} synced, ${m.errors} failed streams retried; client 0 holds ${JSON.stringify(m.sample)}`);
      }
    });
    const afterSync = cpu();
    const c0 = await clients.counters();
    const syncWall = now() - t0;
    log(`  ${plane}: ${n} clients synced in ${(syncWall / 1000).toFixed(1)} s; client 0 holds ${JSON.stringify(sync.sample)}`);
    await sleep(3000);

    // Single changes: one VirtualService each, the next only once every client has it and things settled.
    const rounds: Run['rounds'] = [];
    const clientsCpu = (): number => (clients.pid ? sampleProcess(clients.pid).cpuSeconds : Number.NaN);
    const single0 = cpu();
    const clientsSingle0 = clientsCpu();
    const cs0 = await clients.counters();
    let seq = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const k = (r * 37 + 11) % SERVICES;
      const marker = `m${token}-${plane}-${n}-${++seq}`;
      const b0 = await clients.counters();
      const { seen } = await clients.watch([marker], 120_000);
      const start = now();
      const apiMs = await api.setMarker(k, marker);
      log(`  ${plane}: change ${r + 1}: wrote ${NAMESPACE}/svc-${k} in ${apiMs.toFixed(0)} ms`);
      changed.add(k);
      const at = await seen;
      await sleep(SETTLE_MS);
      const b1 = await clients.counters();
      const watchMs = (api.watched.get(marker) ?? Number.NaN) - start;
      const lat = at.map((t) => t - start);
      rounds.push({ allMs: Math.max(...lat), firstMs: Math.min(...lat), perClientMs: summarize(lat), apiMs, watchMs, bytes: diff(b0, b1) });
      log(`  ${plane}: change ${r + 1}/${ROUNDS} (${NAMESPACE}/svc-${k}): all ${n} clients in ${Math.max(...lat).toFixed(0)} ms (first ${Math.min(...lat).toFixed(0)} ms); API ${apiMs.toFixed(0)} ms, watch ${watchMs.toFixed(0)} ms; ${(b1.wireBytes - b0.wireBytes).toLocaleString('en-US')} bytes`);
    }
    const single1 = cpu();
    const clientsSingle1 = clientsCpu();
    const cs1 = await clients.counters();

    // A burst: BURST VirtualServices written back to back; done when every client holds all of them.
    const markers = Array.from({ length: BURST }, (_, j) => `b${token}-${plane}-${n}-${j}`);
    const ks = markers.map((_, j) => (j * 7 + 3) % SERVICES);
    const burst0 = cpu();
    const cb0 = await clients.counters();
    const { seen } = await clients.watch(markers, 600_000);
    const start = now();
    const apiMs: number[] = [];
    for (let j = 0; j < BURST; j++) {
      apiMs.push(await api.setMarker(ks[j], markers[j]));
      changed.add(ks[j]);
    }
    const lastWrite = now();
    const at = await seen;
    await sleep(Math.max(SETTLE_MS, 1000));
    const burst1 = cpu();
    const cb1 = await clients.counters();
    const done = Math.max(...at);
    const churn = CHURN_SECONDS > 0 && goWorker ? await endpointChurn(plane, clients, api, cpu, clientsCpu) : undefined;
    const end = churn ? cpu() : burst1;
    return {
      plane,
      clients: n,
      services: SERVICES,
      idleCpuPerSecond,
      sync: { wallMs: syncWall, cpuSeconds: afterSync.cpuSeconds - before.cpuSeconds, bytes: diff({ wireBytes: 0, resourceBytes: 0, responses: 0 }, c0), rss: afterSync.rss, sample: sync.sample },
      rounds,
      single: { cpuSeconds: single1.cpuSeconds - single0.cpuSeconds, clientsCpuSeconds: clientsSingle1 - clientsSingle0, bytes: diff(cs0, cs1) },
      burst: { changes: BURST, fromFirstWriteMs: done - start, fromLastWriteMs: done - lastWrite, writeSpanMs: lastWrite - start, apiMs, cpuSeconds: burst1.cpuSeconds - burst0.cpuSeconds, bytes: diff(cb0, cb1) },
      churn,
      memory: { rssEnd: end.rss, peakRss: end.peakRss },
    };
  } finally {
    await clients.stop();
  }
}

/**
 * Endpoint churn: CHURN_RATE pod changes a second (service k's second endpoint moves to a new
 * address), written on schedule whatever the answers (an open loop), for CHURN_SECONDS; for each,
 * when every client that asks for that service's EDS name holds the new address.
 */
async function endpointChurn(plane: string, clients: SimulatedSidecars, api: BenchApi, cpu: () => ProcessSample, clientsCpu: () => number): Promise<NonNullable<Run['churn']>> {
  const total = Math.round(CHURN_RATE * CHURN_SECONDS);
  log(`  ${plane}: endpoint churn begins: ${total} changes at ${CHURN_RATE}/s`);
  const cpu0 = cpu();
  const clientsCpu0 = clientsCpu();
  const b0 = await clients.counters();
  const t0 = now();
  const changes: Promise<{ writeAt: number; apiMs: number; at: number[] }>[] = [];
  for (let i = 0; i < total; i++) {
    const wait = t0 + (i * 1000) / CHURN_RATE - now();
    if (wait > 0) await sleep(wait);
    const k = (i * 7 + 5) % SERVICES;
    const ip = churnIp(churnSeq++);
    const { seen } = await clients.watchEndpoint(edsClusterName(k), addressBytes(ip), 300_000);
    const writeAt = now();
    movedEndpoints.add(k);
    changes.push(api.moveEndpoint(k, ip).then(async (apiMs) => ({ writeAt, apiMs, at: await seen })));
  }
  const writesEnd = now();
  const done = await Promise.all(changes);
  const end = maxOf(done.map((d) => maxOf(d.at)));
  const cpu1 = cpu();
  const clientsCpu1 = clientsCpu();
  const b1 = await clients.counters();
  const all = done.map((d) => maxOf(d.at) - d.writeAt);
  const fromAnswer = done.map((d) => maxOf(d.at) - (d.writeAt + d.apiMs));
  const perClient = done.flatMap((d) => d.at.filter((t) => t > 0).map((t) => t - d.writeAt));
  const affected = done.reduce((n, d) => n + d.at.filter((t) => t > 0).length, 0) / Math.max(1, done.length);
  const result = {
    changes: total,
    rate: CHURN_RATE,
    writeSpanMs: writesEnd - t0,
    wallMs: end - t0,
    cpuSeconds: cpu1.cpuSeconds - cpu0.cpuSeconds,
    allMs: { ...summarize(all), p99: percentile(all, 99) },
    perClientMs: { ...summarize(perClient), p99: percentile(perClient, 99) },
    apiMs: { ...summarize(done.map((d) => d.apiMs)), p99: percentile(done.map((d) => d.apiMs), 99) },
    fromAnswerMs: { ...summarize(fromAnswer), p99: percentile(fromAnswer, 99) },
    affectedClients: affected,
    clientsCpuSeconds: clientsCpu1 - clientsCpu0,
    bytes: diff(b0, b1),
  };
  log(`  ${plane}: endpoint churn, ${total} changes at ${CHURN_RATE}/s over ${(result.writeSpanMs / 1000).toFixed(1)} s: every affected client (${affected.toFixed(0)}) has a change p50 ${result.allMs.p50.toFixed(0)} ms, p99 ${result.allMs.p99.toFixed(0)} ms, max ${result.allMs.max.toFixed(0)} ms (from the API's answer: p50 ${result.fromAnswerMs.p50.toFixed(0)} ms, p99 ${result.fromAnswerMs.p99.toFixed(0)} ms); control plane ${result.cpuSeconds.toFixed(2)} s of CPU over ${(result.wallMs / 1000).toFixed(1)} s; clients ${result.clientsCpuSeconds.toFixed(2)} s of CPU for ${result.bytes.responses} responses`);
  return result;
}

async function main(): Promise<void> {
  const v = versions();
  const binary = PLANES.includes('istiod') ? istiodBinary(v.ISTIO_VERSION) : '';
  const { kc, core, apps, objects } = kube();
  const api = new BenchApi(kc, core, objects);
  const trellis = new Trellis(apps, core, kc.makeApiClient(AdmissionregistrationV1Api), { namespace: 'trellis-system', name: 'trellis' });
  const startedAt = new Date();
  log(`vs-istiod: ${machine()}`);
  const goWorker = CLIENT === 'go' ? await buildGoTool('xds-client') : undefined;
  log(`simulated sidecars: ${goWorker ? 'bench/xds-client (Go)' : 'client-worker.ts (Node.js)'}, ${PROTOCOL} xDS, ${ENDPOINTS} endpoints per service`);
  log(`istio ${v.ISTIO_VERSION_LABEL} (${v.ISTIO_VERSION}); clients ${CLIENTS.join(', ')}; ${SERVICES} services + ${SERVICES} VirtualServices; ${ROUNDS} single changes, a burst of ${BURST}; ${PLANES.join(' then ')}`);

  const found = PLANES.includes('trellis') && !TRELLIS_XDS ? await trellis.deployment() : undefined;
  const replicas = found?.spec?.replicas ?? 0;
  let restoreFlags: (() => Promise<void>) | undefined;
  let istiod: Istiod | undefined;
  /** The cgroup istiod was moved into (--istiod-cpu-weight pod), removed once it has stopped. */
  let istiodCgroup: string | undefined;
  const stopIstiod = async (): Promise<void> => {
    await istiod?.stop();
    istiod = undefined;
    if (istiodCgroup) release(istiodCgroup);
    istiodCgroup = undefined;
  };
  const token = Date.now().toString(36);
  const changed = new Set<number>();
  const runs: Run[] = [];
  let cleaning = false;
  const cleanup = async (): Promise<void> => {
    if (cleaning) return;
    cleaning = true;
    api.stopWatching();
    await stopIstiod();
    if (restoreFlags) {
      log('restoring the Trellis deployment\'s flags');
      await restoreFlags();
    }
    if (found) {
      log(`Trellis: its webhook configurations back, scaled back to ${replicas}`);
      await trellis.start(replicas).catch((err: unknown) => log(`  ${String(err)}`));
    }
    if (!KEEP) {
      log(`deleting namespaces ${NAMESPACE} and ${ISTIOD_NS}`);
      await Promise.all([api.deleteNamespace(NAMESPACE), api.deleteNamespace(ISTIOD_NS)]);
    }
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  try {
    if (found && !found.spec?.template.spec?.containers.some((c) => c.name === 'trellis')) throw new Error('trellis-system/trellis has no trellis container');
    for (const ns of [NAMESPACE, ISTIOD_NS]) await api.deleteNamespace(ns);
    await api.createNamespace(NAMESPACE);
    await api.createNamespace(ISTIOD_NS);
    log(`creating ${SERVICES} Services, EndpointSlices and VirtualServices in ${NAMESPACE}`);
    await api.createMesh(SERVICES, baseMarker, ENDPOINTS);
    await api.watchVirtualServices();
    if (found) {
      restoreFlags = await trellis.ensureFlags(Math.max(...CLIENTS));
      if (restoreFlags) log('Trellis deployment: plaintext xDS and the per-address stream limit set for this run');
    }

    for (const n of CLIENTS) {
      for (const plane of PLANES) {
        const free = os.freemem() / 2 ** 30;
        if (free < 2) throw new Error(`only ${free.toFixed(1)} GiB free: stopping before ${plane} with ${n} clients`);
        await api.resetMarkers(changed, baseMarker);
        changed.clear();
        await api.resetEndpoints(movedEndpoints);
        movedEndpoints.clear();
        let target: string;
        let pid: number;
        if (plane === 'istiod') {
          if (found) await trellis.stop();
          log(`starting istiod (${n} clients)`);
          istiod = await Istiod.start({ binary, kubeconfig: kubeconfigFile(), namespace: ISTIOD_NS, workDir: path.join(root, '.devcluster/vs-istiod'), ...PORTS });
          target = `127.0.0.1:${PORTS.grpcPort}`;
          pid = istiod.pid;
          if (ISTIOD_CPU_WEIGHT === 'pod') {
            const placed = placeLikeTrellisPod(pid, 'vs-istiod');
            if ('dir' in placed) {
              istiodCgroup = placed.dir;
              log(`istiod runs in ${placed.dir} (cpu.shares ${TRELLIS_POD_SHARES}, the CPU weight of Trellis's pod)`);
            } else log(`istiod keeps a host process's CPU weight: ${placed.skipped}`);
          }
        } else {
          await stopIstiod();
          if (TRELLIS_XDS) {
            target = TRELLIS_XDS;
            pid = TRELLIS_PID;
          } else {
            log(`starting Trellis (${n} clients)`);
            await trellis.start(1);
            if (TRELLIS_WEBHOOKS === 'aside') await trellis.setWebhooksAside();
            const r = await trellis.running();
            target = `${r.ip}:15010`;
            pid = r.pid;
          }
        }
        await sleep(5000); // caches synced, start-up work done
        log(`${plane}: pid ${pid}, xDS at ${target}, RSS ${(sampleProcess(pid).rss / 2 ** 20).toFixed(0)} MiB before clients`);
        const run = await measure(plane, n, target, pid, api, changed, token, goWorker);
        runs.push(run);
        printReport([run], false);
        if (plane === 'istiod') {
          await stopIstiod();
          const written = await api.writtenBy('pilot-discovery', WRITABLE_KINDS);
          log(`written by istiod (field manager pilot-discovery): ${written.length ? written.join(', ') : 'nothing'}`);
        }
      }
    }
  } finally {
    await cleanup();
  }
  log(`done; machine now: ${machine()}`);
  printReport(runs, true);
  if (OUT) {
    fs.writeFileSync(OUT, `${JSON.stringify({ startedAt: startedAt.toISOString(), machine: machine(), lscpu: lscpu(), versions: v, options: { CLIENTS, SERVICES, ROUNDS, BURST, SETTLE_MS, CLIENT, PROTOCOL, ENDPOINTS, CHURN_RATE, CHURN_SECONDS }, runs }, null, 1)}\n`);
    log(`results in ${OUT}`);
  }
}

function kubeconfigFile(): string {
  return process.env.KUBECONFIG ?? path.join(root, '.devcluster/kubeconfig');
}

function lscpu(): string {
  try {
    return execFileSync('lscpu', { encoding: 'utf8' });
  } catch {
    return '';
  }
}

/** `--report FILE.json`: the side-by-side tables of a saved run. */
function reportOnly(file: string): void {
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { startedAt: string; machine: string; runs: Run[] };
  console.log(`${file}: started ${saved.startedAt}; ${saved.machine}`);
  printReport(saved.runs, true);
}

const reportFile = opt('report', '');
(reportFile ? Promise.resolve(reportOnly(reportFile)) : main()).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
