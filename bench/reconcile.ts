// Reconcile benchmark: time and memory for the control plane to take in 1,000 Services,
// 1,000 VirtualServices and 1,000 DestinationRules from a real API server.
//
//   make bench                     (or: npx tsc && node dist/bench/reconcile.js [--count 1000] [--concurrency 20])
//
// Needs the running devcluster (`make cluster-up`); never starts or stops it. In a fresh
// namespace it creates N Services, N VirtualServices (a 90/10 split across two subsets, plus a
// header match) and N DestinationRules (two subsets, a traffic policy), then starts the real
// control plane (dist/src/main.js) as a host process, with the flags test/support/control-plane.ts
// uses, and measures from process start until: /ready; every config in its model
// (/debug/configz); every Service in its registry (/debug/registryz); every object showing
// status Accepted=True for its generation. Then its resident memory and heap from /metrics, and
// whether an idle control plane writes any status. The namespace is deleted at the end.
//
// A second, in-process part times the pure model (src/model) on the same objects: building the
// Mesh and computing warningsFor() for every config.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CoreV1Api, CustomObjectsApi, KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { ConfigStore, type AnyConfig, type Config } from '../src/model/config-store.js';
import { Mesh } from '../src/model/mesh.js';
import { ServiceRegistry } from '../src/model/services.js';
import { warningsFor } from '../src/model/warnings.js';
import { kubectlPath, root } from '../test/support/cluster.js';
import { spawnControlPlane, type RunningControlPlane } from '../test/support/control-plane.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}
const N = Number(arg('count', '1000'));
const CONCURRENCY = Number(arg('concurrency', '20'));
const SYNC_TIMEOUT_MS = Number(arg('timeout-ms', '600000'));

const kubeconfigPath = process.env.KUBECONFIG ?? path.join(root, '.devcluster/kubeconfig');

function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, KUBECONFIG: kubeconfigPath } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, out: stdout + stderr });
    });
  });
}

/** The devcluster's kubectl, or the one on PATH for another cluster. */
function kubectl(): string {
  const p = kubectlPath();
  return fs.existsSync(p) ? p : 'kubectl';
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// --- the objects ----------------------------------------------------------------------------

const name = (i: number): string => `svc-${String(i).padStart(4, '0')}`;

function service(ns: string, i: number): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: name(i), namespace: ns, labels: { app: name(i) } },
    spec: { selector: { app: name(i) }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  } as KubernetesObject;
}

function virtualServiceSpec(i: number): Record<string, unknown> {
  const host = name(i);
  return {
    hosts: [host],
    http: [
      { name: 'canary-testers', match: [{ headers: { 'end-user': { exact: 'tester' } } }], route: [{ destination: { host, subset: 'v2' } }] },
      {
        name: 'split',
        route: [
          { destination: { host, subset: 'v1', port: { number: 80 } }, weight: 90 },
          { destination: { host, subset: 'v2', port: { number: 80 } }, weight: 10 },
        ],
        timeout: '5s',
        retries: { attempts: 3, perTryTimeout: '2s', retryOn: 'connect-failure,refused-stream,503' },
      },
    ],
  };
}

function destinationRuleSpec(i: number): Record<string, unknown> {
  return {
    host: name(i),
    trafficPolicy: {
      loadBalancer: { simple: 'LEAST_REQUEST' },
      connectionPool: { tcp: { maxConnections: 100, connectTimeout: '1s' }, http: { http1MaxPendingRequests: 64, maxRequestsPerConnection: 100 } },
      outlierDetection: { consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 50 },
    },
    subsets: [
      { name: 'v1', labels: { version: 'v1' } },
      { name: 'v2', labels: { version: 'v2' }, trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } },
    ],
  };
}

const networking = (kind: string, ns: string, i: number, spec: Record<string, unknown>): KubernetesObject =>
  ({ apiVersion: 'networking.istio.io/v1', kind, metadata: { name: name(i), namespace: ns }, spec }) as KubernetesObject;

// --- the control plane ------------------------------------------------------------------------

async function metric(monitoring: string, metricName: string): Promise<number> {
  const text = await (await fetch(`${monitoring}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => (l.startsWith(`${metricName} `) || l.startsWith(`${metricName}{`)) && !l.startsWith('#'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

async function countIn<T extends { namespace?: string }>(url: string, ns: string, pick: (body: unknown) => T[]): Promise<number | undefined> {
  const res = await fetch(url).catch(() => undefined);
  if (!res || res.status !== 200) return undefined;
  return pick(await res.json()).filter((x) => x.namespace === ns).length;
}

interface StatusObject {
  metadata?: { generation?: number };
  status?: { observedGeneration?: number; conditions?: { type: string; status: string; observedGeneration?: number }[] };
}

function accepted(o: StatusObject): boolean {
  const gen = o.metadata?.generation;
  const c = o.status?.conditions?.find((x) => x.type === 'Accepted');
  return c?.status === 'True' && o.status?.observedGeneration === gen;
}

/** Other dist/src/main.js processes on this machine (another engineer's tests): they reconcile our objects too. */
function otherControlPlanes(): number {
  return fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
    .filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('dist/src/main.js');
      } catch {
        return false;
      }
    }).length;
}

// --- the in-process model ---------------------------------------------------------------------

function modelBench(): { buildMs: number; meshMs: number; warningsMs: number; lookupsMs: number; warnings: number; heapMiB: number } {
  const ns = 'bench';
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const store = new ConfigStore();
  const registry = new ServiceRegistry();
  const meta = (kind: Config['kind'], i: number, spec: unknown): AnyConfig =>
    ({
    kind,
    namespace: ns,
    name: name(i),
    generation: 1,
    resourceVersion: String(i),
    creationTimestamp: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString(),
    labels: {},
    annotations: {},
    spec,
    }) as AnyConfig;
  for (let i = 0; i < N; i++) {
    registry.upsertService({ namespace: ns, name: name(i), clusterIP: `10.96.${i >> 8}.${i & 255}`, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], labels: {}, selector: { app: name(i) }, exportTo: [] });
    store.upsert(meta('VirtualService', i, virtualServiceSpec(i)));
    store.upsert(meta('DestinationRule', i, destinationRuleSpec(i)));
  }
  const t1 = performance.now();
  const mesh = new Mesh(store, registry);
  mesh.virtualServices();
  mesh.destinationRules();
  mesh.services();
  const t2 = performance.now();
  let warnings = 0;
  for (const c of store.list()) warnings += warningsFor(c, mesh).length;
  const t3 = performance.now();
  for (let i = 0; i < N; i++) {
    const host = `${name(i)}.${ns}.svc.cluster.local`;
    mesh.destinationRuleFor(host, 'client');
    mesh.sidecarVirtualServiceFor(host, 'client');
  }
  const t4 = performance.now();
  const heapMiB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  return { buildMs: t1 - t0, meshMs: t2 - t1, warningsMs: t3 - t2, lookupsMs: t4 - t3, warnings, heapMiB };
}

// --- main -------------------------------------------------------------------------------------

const fmtS = (ms: number | undefined): string => (ms === undefined ? 'not reached' : `${(ms / 1000).toFixed(2)} s`);
const fmtMiB = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

function table(rows: [string, string][]): void {
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
}

async function main(): Promise<number> {
  const status = await run(path.join(root, 'tools/devcluster/devcluster'), ['status'], 30_000);
  if (status.code !== 0) {
    console.error('reconcile bench: the devcluster is not running. Start it with `make cluster-up` (tools/devcluster/devcluster up), then run `make bench` again.');
    console.error(status.out.trim());
    return 1;
  }
  if (!fs.existsSync(path.join(root, 'dist/src/main.js'))) {
    console.error('reconcile bench: dist/src/main.js is missing: run `npx tsc` (or `make build`) first.');
    return 1;
  }

  console.log(`reconcile bench: ${N} Services + ${N} VirtualServices + ${N} DestinationRules, ${CONCURRENCY} requests in flight`);
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${fmtMiB(os.totalmem())} memory, Node ${process.version}`);

  const model = modelBench();

  const crds = await run(kubectl(), ['apply', '--server-side', '-f', path.join(root, 'crds')]);
  if (crds.code !== 0) {
    console.error(`reconcile bench: installing the CRDs failed:\n${crds.out}`);
    return 1;
  }

  const before = otherControlPlanes();
  if (before > 0) console.log(`note: ${before} other control plane process(es) are running against the cluster; they may write the same status first`);

  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const ns = `trellis-bench-${Date.now().toString(36)}`;
  let cp: RunningControlPlane | undefined;
  let code = 0;
  const rows: [string, string][] = [];
  const onSignal = (): void => {
    void cp?.stop();
    void core.deleteNamespace({ name: ns }).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const items = Array.from({ length: N }, (_, i) => i);
    const c0 = performance.now();
    await pool(items, CONCURRENCY, (i) => objects.create(service(ns, i)));
    await pool(items, CONCURRENCY, (i) => objects.create(networking('VirtualService', ns, i, virtualServiceSpec(i))));
    await pool(items, CONCURRENCY, (i) => objects.create(networking('DestinationRule', ns, i, destinationRuleSpec(i))));
    const createMs = performance.now() - c0;
    console.log(`created ${3 * N} objects in ${fmtS(createMs)} (${((3 * N) / (createMs / 1000)).toFixed(0)}/s)`);

    const t0 = performance.now();
    cp = await spawnControlPlane({ namespace: ns, validatingConfig: `trellis-validator-${ns}` });
    const monitoring = cp.monitoring;
    const at: { ready?: number; model?: number; registry?: number; status?: number } = {};
    let registryAvailable = true;
    let lastAccepted = 0;
    const deadline = t0 + SYNC_TIMEOUT_MS;
    while (performance.now() < deadline && at.status === undefined) {
      if (cp.proc.exitCode !== null) throw new Error(`the control plane exited with code ${cp.proc.exitCode}`);
      const now = (): number => performance.now() - t0;
      if (at.ready === undefined) {
        if ((await fetch(`${monitoring}/ready`).catch(() => undefined))?.status === 200) at.ready = now();
        else {
          await sleep(50);
          continue;
        }
      }
      if (at.model === undefined) {
        const n = await countIn(`${monitoring}/debug/configz`, ns, (b) => b as { namespace?: string }[]);
        if (n === 2 * N) at.model = now();
      }
      if (at.registry === undefined && registryAvailable) {
        const n = await countIn(`${monitoring}/debug/registryz`, ns, (b) => (b as { services?: { namespace?: string }[] }).services ?? []);
        if (n === undefined) registryAvailable = false;
        else if (n === N) at.registry = now();
      }
      const lists = await Promise.all(
        ['virtualservices', 'destinationrules'].map((plural) => custom.listNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns, plural }) as Promise<{ items: StatusObject[] }>),
      );
      lastAccepted = lists.reduce((sum, l) => sum + l.items.filter(accepted).length, 0);
      if (lastAccepted === 2 * N) at.status = now();
      else await sleep(250);
    }
    if (at.status === undefined) code = 1;

    await sleep(2000);
    const rss = await metric(monitoring, 'trellis_process_resident_memory_bytes');
    const heapUsed = await metric(monitoring, 'trellis_nodejs_heap_size_used_bytes');
    const heapTotal = await metric(monitoring, 'trellis_nodejs_heap_size_total_bytes');
    const cpu = await metric(monitoring, 'trellis_process_cpu_seconds_total');
    const writes = await metric(monitoring, 'trellis_status_writes_total');
    await sleep(5000);
    const idleWrites = (await metric(monitoring, 'trellis_status_writes_total')) - writes;
    const after = otherControlPlanes() - 1;
    if (after > 0) console.log(`note: ${after} other control plane process(es) were running at the end; status writes may be shared with them`);

    rows.push(
      ['objects', `${N} Services, ${N} VirtualServices, ${N} DestinationRules (namespace ${ns})`],
      ['create (client, 20 in flight)', `${fmtS(createMs)}`],
      ['start → /ready', fmtS(at.ready)],
      ['start → all configs in the model', fmtS(at.model)],
      ['start → all Services in the registry', registryAvailable ? fmtS(at.registry) : 'n/a (no /debug/registryz)'],
      ['start → all Accepted=True', `${fmtS(at.status)}${at.status === undefined ? ` (${lastAccepted}/${2 * N})` : ''}`],
      ['status writes', `${writes}`],
      ['status writes in 5 s idle', `${idleWrites}`],
      ['CPU time (user+system)', `${cpu.toFixed(2)} s`],
      ['resident memory after sync', fmtMiB(rss)],
      ['heap used / total after sync', `${fmtMiB(heapUsed)} / ${fmtMiB(heapTotal)}`],
      ['model in-process: store+registry build', `${model.buildMs.toFixed(0)} ms`],
      ['model in-process: Mesh indexes', `${model.meshMs.toFixed(0)} ms`],
      ['model in-process: warningsFor() × 2N', `${model.warningsMs.toFixed(0)} ms (${model.warnings} warnings)`],
      ['model in-process: N DR + N VS lookups', `${model.lookupsMs.toFixed(0)} ms`],
      ['model in-process: heap growth', `${model.heapMiB.toFixed(1)} MiB`],
    );
  } catch (err) {
    code = 1;
    console.error(`reconcile bench failed: ${err instanceof Error ? err.message : String(err)}`);
    if (cp) console.error(`--- control plane logs (tail) ---\n${cp.logs().slice(-4000)}`);
  } finally {
    const exit = cp ? await cp.stop() : null;
    if (cp && exit !== 0) console.error(`control plane exited with ${exit}`);
    const d0 = performance.now();
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    let gone = false;
    while (!gone && performance.now() - d0 < 180_000) {
      gone = await core.readNamespace({ name: ns }).then(
        () => false,
        () => true,
      );
      if (!gone) await sleep(1000);
    }
    rows.push(['namespace deleted', gone ? `in ${fmtS(performance.now() - d0)}` : 'still terminating after 180 s']);
  }
  console.log('');
  table(rows);
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
