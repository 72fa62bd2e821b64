// bench/mesh-page: what the mesh page and the per-object rollout status cost the control plane
// (BENCHMARKS.md, "mesh-page"). Trellis as its chart installed it on the devcluster, S Services
// with a VirtualService each (bench/vs-istiod's objects), N simulated Envoy-like sidecars
// (bench/vs-istiod's client process, plaintext xDS), then:
//
//   1. idle: the control plane's CPU and RSS over a window, no page open;
//   2. page open: the same with one browser's worth of page (the event stream of
//      /debug/mesh/events, as the page holds it), and the size of its events;
//   3. status writes: every VirtualService changed at once; how long until each one's status
//      says its generation reached every proxy ("N/N proxies up to date."), how many status
//      writes that took, the control plane's CPU meanwhile and the rollout passes' time.
//
//   npx tsc -p tsconfig.json && KUBECONFIG=.devcluster/kubeconfig \
//     node dist/bench/mesh-page.js [--clients 100] [--services 1000] [--window 60] [--settle 60] [--keep]
//
// The simulated sidecars have no pods, so the page's graph reads no statistics here (its cost
// per read is measured apart, in process: the last table).
import http from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { AdmissionregistrationV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { readScrape, trafficGraph, type ScrapeRound } from '../src/dashboard/traffic-graph.js';
import { DURATION_BUCKETS_MS } from '../src/sidecar/stats-config.js';
import { parsePrometheusText } from '../src/util/prometheus-text.js';
import { kube } from '../test/support/cluster.js';
import { debugReaderToken } from '../test/support/tokens.js';
import { BenchApi } from './vs-istiod/api.js';
import { SimulatedSidecars } from './vs-istiod/clients.js';
import { baseMarker, NAMESPACE, serviceName } from './vs-istiod/mesh.js';
import { sampleProcess, summarize } from './vs-istiod/stats.js';
import { Trellis } from './vs-istiod/trellis.js';

function opt(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}
const CLIENTS = Number(opt('clients', '100'));
const SERVICES = Number(opt('services', '1000'));
const WINDOW_S = Number(opt('window', '60'));
/** After the clients synced: the initial sync's own work (statuses, collections) is over. */
const SETTLE_S = Number(opt('settle', '60'));
const KEEP = process.argv.includes('--keep');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string): void => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** CPU (vCPU on average) and RSS of a process over `seconds`. */
async function sampleWindow(pid: number, seconds: number): Promise<{ vcpu: number; rssStart: number; rssEnd: number; peak: number }> {
  const a = sampleProcess(pid);
  await sleep(seconds * 1000);
  const b = sampleProcess(pid);
  return { vcpu: (b.cpuSeconds - a.cpuSeconds) / seconds, rssStart: a.rss, rssEnd: b.rss, peak: b.peakRss };
}

/** The control plane's own metrics, summed by name over the label sets that match. */
async function metric(base: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return parsePrometheusText(text)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

/** Holds the page's event stream open; counts its events and bytes. */
function openPage(url: string, token: string): { events: () => number; bytes: () => number; close: () => void } {
  let events = 0;
  let bytes = 0;
  const req = http.get(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`);
    res.on('data', (c: Buffer) => {
      bytes += c.length;
      events += c.toString().split('event: state').length - 1;
    });
  });
  req.on('error', () => undefined);
  return { events: () => events, bytes: () => bytes, close: () => req.destroy() };
}

interface VsStatus {
  metadata?: { generation?: number };
  status?: { conditions?: Array<{ type: string; status: string; message: string; observedGeneration?: number }> };
}

/** How many of the bench's VirtualServices say their current generation reached `want` proxies. */
async function reconciled(custom: CustomObjectsApi, want: number): Promise<number> {
  const list = (await custom.listNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: NAMESPACE, plural: 'virtualservices' })) as { items: VsStatus[] };
  return list.items.filter((vs) => {
    const c = vs.status?.conditions?.find((x) => x.type === 'Reconciled');
    return c?.status === 'True' && c.observedGeneration === vs.metadata?.generation && c.message.startsWith(`${want}/${want} `);
  }).length;
}

/** One read of the graph's statistics, in process: N proxies' filtered stats (each like a real Envoy's with `services` destinations). */
function graphCost(proxies: number, destinations: number): { perRoundMs: number; textBytes: number } {
  const text = (seq: number): string => {
    const lines: string[] = [`envoy_server_uptime{workload="client",workload_namespace="bench"} ${1000 + seq}`];
    for (let d = 0; d < destinations; d++) {
      const l = `direction="outbound",destination_service="${serviceName(d)}.${NAMESPACE}.svc.cluster.local",destination_port="80",destination_subset="",workload="client-${d % 10}",workload_namespace="bench"`;
      lines.push(`envoy_cluster_upstream_rq{${l},response_code="200"} ${100 * seq + d}`, `envoy_cluster_upstream_rq{${l},response_code="503"} ${seq}`);
      for (const le of [...DURATION_BUCKETS_MS, '+Inf']) lines.push(`envoy_cluster_upstream_rq_time_bucket{${l},le="${le}"} ${100 * seq + d}`);
    }
    return lines.join('\n');
  };
  const round = (seq: number): ScrapeRound => ({ at: seq * 5000, proxies: new Map(Array.from({ length: proxies }, (_, p) => [`p${p}`, readScrape({ at: seq * 5000, text: text(seq) })])) });
  let prev = round(1);
  const t0 = performance.now();
  const rounds = 5;
  for (let s = 2; s < 2 + rounds; s++) {
    const cur = round(s);
    trafficGraph(prev, cur, () => []);
    prev = cur;
  }
  return { perRoundMs: (performance.now() - t0) / rounds, textBytes: text(1).length };
}

async function main(): Promise<void> {
  const { kc, core, apps, objects } = kube();
  const api = new BenchApi(kc, core, objects);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const trellis = new Trellis(apps, core, kc.makeApiClient(AdmissionregistrationV1Api), { namespace: 'trellis-system', name: 'trellis' });
  log(`machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`);
  await api.deleteNamespace(NAMESPACE);
  await api.createNamespace(NAMESPACE);
  log(`creating ${SERVICES} Services, EndpointSlices and VirtualServices in ${NAMESPACE}`);
  await api.createMesh(SERVICES, baseMarker);
  const restore = await trellis.ensureFlags(CLIENTS);
  let clients: SimulatedSidecars | undefined;
  try {
    await trellis.start(1);
    const cp = await trellis.running();
    const base = `http://${cp.ip}:15014`;
    log(`Trellis pid ${cp.pid}, RSS ${mib(sampleProcess(cp.pid).rss)}; connecting ${CLIENTS} clients`);
    clients = new SimulatedSidecars(`${cp.ip}:15010`, CLIENTS, SERVICES, '1.31.0');
    const sync = await clients.synced(1_800_000, () => undefined);
    log(`${CLIENTS} clients synced in ${(sync.ms / 1000).toFixed(1)} s`);
    await sleep(SETTLE_S * 1000);

    const idle = await sampleWindow(cp.pid, WINDOW_S);
    log(`page closed: ${idle.vcpu.toFixed(3)} vCPU, RSS ${mib(idle.rssStart)} → ${mib(idle.rssEnd)}`);

    const token = await debugReaderToken(NAMESPACE);
    const page = openPage(`${base}/debug/mesh/events`, token);
    const stateBytes = (await (await fetch(`${base}/debug/mesh/state`, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer()).byteLength;
    const open = await sampleWindow(cp.pid, WINDOW_S);
    log(`page open: ${open.vcpu.toFixed(3)} vCPU, RSS ${mib(open.rssStart)} → ${mib(open.rssEnd)}; ${page.events()} events, ${page.bytes()} bytes; state ${stateBytes} bytes`);

    // Status writes: every VirtualService changed at once, the page still open.
    const writes0 = await metric(base, 'trellis_status_writes_total', { kind: 'VirtualService' });
    const passSum0 = await metric(base, 'trellis_rollout_pass_seconds_sum');
    const passCount0 = await metric(base, 'trellis_rollout_pass_seconds_count');
    const cpu0 = sampleProcess(cp.pid).cpuSeconds;
    const t0 = performance.now();
    const ks = Array.from({ length: SERVICES }, (_, k) => k);
    const apiMs: number[] = [];
    for (let i = 0; i < ks.length; i += 10) apiMs.push(...(await Promise.all(ks.slice(i, i + 10).map((k) => api.setMarker(k, `status-${k}`)))));
    const written = performance.now() - t0;
    let done = 0;
    while (done < SERVICES && performance.now() - t0 < 600_000) {
      await sleep(1000);
      done = await reconciled(custom, CLIENTS);
    }
    const allMs = performance.now() - t0;
    const cpu1 = sampleProcess(cp.pid).cpuSeconds;
    const writes = (await metric(base, 'trellis_status_writes_total', { kind: 'VirtualService' })) - writes0;
    const passes = (await metric(base, 'trellis_rollout_pass_seconds_count')) - passCount0;
    const passSeconds = (await metric(base, 'trellis_rollout_pass_seconds_sum')) - passSum0;
    page.close();
    log(`status: ${done}/${SERVICES} VirtualServices "${CLIENTS}/${CLIENTS} proxies up to date." ${(allMs / 1000).toFixed(1)} s after the first write (writes took ${(written / 1000).toFixed(1)} s, API p50 ${summarize(apiMs).p50.toFixed(0)} ms); ${writes} status writes (${(writes / SERVICES).toFixed(2)} per object); control plane CPU ${(cpu1 - cpu0).toFixed(1)} s; ${passes} rollout passes, ${((passSeconds / Math.max(passes, 1)) * 1000).toFixed(1)} ms each`);

    for (const [n, d] of [[100, 10], [100, 50]]) {
      const g = graphCost(n, d);
      log(`graph: one read of ${n} proxies' statistics (${d} destinations each, ${g.textBytes} bytes per proxy): ${g.perRoundMs.toFixed(1)} ms to parse and compute`);
    }
  } finally {
    await clients?.stop();
    if (restore) await restore();
    if (!KEEP) await api.deleteNamespace(NAMESPACE);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
