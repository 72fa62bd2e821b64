// Benchmark of the sidecar translation (src/translate), in process, no network:
//  (1) one proxy, S services × E endpoints: translation time, encode time and the encoded size
//      of each resource type;
//  (2) P proxies in the same namespace: translating every proxy (sidecarSnapshot per proxy, as
//      the xDS server does today), encoding everything once per proxy, and encoding through
//      src/xds's ResourceCache (content-hashed, so equal resources share one EncodedResource);
//      plus how many of the P × N resources are distinct contents, which is what could be shared.
// Each measure runs on two meshes: Services only (default routes), and the same Services each
// with a VirtualService (header match, 90/10 split over two subsets, timeout, retries) and a
// DestinationRule (two subsets, LEAST_REQUEST, connection pool, outlier detection).
//
//   npx tsc -p tsconfig.json && node --expose-gc dist/bench/translate.js [--services 1000] [--endpoints 10] [--proxies 100] [--runs 5]
//
// Record results in BENCHMARKS.md with the machine and the date.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { AnyConfig } from '../src/model/config-store.js';
import type { Mesh } from '../src/model/mesh.js';
import { DEFAULT_SIDECAR_OPTIONS, type SidecarProxy } from '../src/translate/input.js';
import { SidecarShare } from '../src/translate/outbound.js';
import { sidecarSnapshot } from '../src/translate/snapshot.js';
import { buildMesh, config, sidecar, type ServiceFixture } from '../test/support/mesh-fixtures.js';
import { setLogLevel } from '../src/util/logger.js';
import type { EncodedResource } from '../src/xds/encoded-resource.js';
import { encodeMessage } from '../src/xds/protos.js';
import { ResourceCache } from '../src/xds/resource-cache.js';
import type { Snapshot } from '../src/xds/snapshot.js';
import { ALL_TYPES, messageName, SHORT_NAME, type TypeUrl } from '../src/xds/types.js';
import { arg } from './args.js';

const SERVICES = arg('services', 1000);
const ENDPOINTS = arg('endpoints', 10);
const PROXIES = arg('proxies', 100);
const RUNS = arg('runs', 5);
const NS = 'bench';
const ALL_TYPE_SET = new Set(ALL_TYPES);

const name = (i: number) => `svc-${i}`;
const endpointIp = (i: number, k: number) => `10.${1 + (i >> 8)}.${i & 255}.${k + 1}`;

function services(): ServiceFixture[] {
  return Array.from({ length: SERVICES }, (_, i) => ({
    namespace: NS,
    name: name(i),
    clusterIP: `10.96.${i >> 8}.${(i & 255) + 1}`,
    ports: [{ name: 'http', port: 80, targetPort: 8080 }],
    endpoints: Array.from({ length: ENDPOINTS }, (_, k) => ({ address: endpointIp(i, k), labels: { app: name(i), version: k % 2 === 0 ? 'v1' : 'v2' }, zone: `z${k % 3}`, region: 'r1' })),
  }));
}

function configs(): AnyConfig[] {
  const out: AnyConfig[] = [];
  for (let i = 0; i < SERVICES; i++) {
    out.push(
      config('DestinationRule', NS, name(i), {
        host: name(i),
        trafficPolicy: {
          loadBalancer: { simple: 'LEAST_REQUEST' },
          connectionPool: { tcp: { maxConnections: 100 }, http: { http1MaxPendingRequests: 10, maxRetries: 3 } },
          outlierDetection: { consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s' },
        },
        subsets: [
          { name: 'v1', labels: { version: 'v1' } },
          { name: 'v2', labels: { version: 'v2' } },
        ],
      }),
      config('VirtualService', NS, name(i), {
        hosts: [name(i)],
        http: [
          { match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [{ destination: { host: name(i), subset: 'v2' } }] },
          {
            route: [
              { destination: { host: name(i), subset: 'v1' }, weight: 90 },
              { destination: { host: name(i), subset: 'v2' }, weight: 10 },
            ],
            timeout: '5s',
            retries: { attempts: 3, perTryTimeout: '2s', retryOn: 'gateway-error,connect-failure' },
          },
        ],
      }),
    );
  }
  return out;
}

/** Proxy p is endpoint p % E of service ⌊p / E⌋: same namespace, its own IP and inbound ports. */
function proxy(p: number): SidecarProxy {
  const svc = Math.floor(p / ENDPOINTS) % SERVICES;
  const k = p % ENDPOINTS;
  return sidecar(NS, { app: name(svc), version: k % 2 === 0 ? 'v1' : 'v2' }, endpointIp(svc, k));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median wall time (ms) of `runs` calls of `f` (after one warm-up call unless `warm` is false); and the last result. */
function timed<T>(f: () => T, runs = RUNS, warm = true): { ms: number; min: number; result: T } {
  let result = warm ? f() : undefined;
  const ms: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    result = f();
    ms.push(performance.now() - t0);
  }
  return { ms: median(ms), min: Math.min(...ms), result: result as T };
}

function entries(s: Snapshot): Array<[TypeUrl, string, object]> {
  const out: Array<[TypeUrl, string, object]> = [];
  for (const t of ALL_TYPES) for (const [n, r] of (s[t] as ReadonlyMap<string, object> | undefined) ?? []) out.push([t, n, r]);
  return out;
}

/** Encodes every resource (as the server would without the cache); bytes and count by type. */
function encodeAll(s: Snapshot): Map<TypeUrl, { count: number; bytes: number }> {
  const by = new Map<TypeUrl, { count: number; bytes: number }>();
  for (const [t, , r] of entries(s)) {
    const b = encodeMessage(messageName(t), r).length;
    const x = by.get(t) ?? { count: 0, bytes: 0 };
    by.set(t, { count: x.count + 1, bytes: x.bytes + b });
  }
  return by;
}

const fmtMs = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(2)} MiB`;

function table(title: string, head: string[], rows: string[][]): void {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r: string[]) => `| ${r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join(' | ')} |`;
  console.log(`\n${title}\n`);
  console.log(line(head));
  console.log(`|${widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

function oneProxy(label: string, mesh: Mesh): void {
  const p = proxy(0);
  const tr = timed(() => sidecarSnapshot(mesh, p));
  const enc = timed(() => encodeAll(tr.result));
  const sizes = enc.result;
  let count = 0;
  let bytes = 0;
  const rows = ALL_TYPES.filter((t) => sizes.has(t)).map((t) => {
    const x = sizes.get(t) ?? { count: 0, bytes: 0 };
    count += x.count;
    bytes += x.bytes;
    return [SHORT_NAME[t], String(x.count), kib(x.bytes), `${(x.bytes / x.count).toFixed(0)} B`];
  });
  rows.push(['total', String(count), kib(bytes), `${(bytes / count).toFixed(0)} B`]);
  table(`${label}: one proxy — translate ${fmtMs(tr.ms)} ms (median of ${RUNS}, min ${fmtMs(tr.min)}), encode ${fmtMs(enc.ms)} ms (min ${fmtMs(enc.min)})`, ['type', 'resources', 'encoded', 'per resource'], rows);
}

function manyProxies(label: string, mesh: Mesh): void {
  const proxies = Array.from({ length: PROXIES }, (_, p) => proxy(p));
  const runs = Math.max(1, Math.min(RUNS, 3));

  // The code is already warm (oneProxy ran on this mesh): no full-size warm-up round here.
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  // Naive: translate every proxy.
  const tr = timed(() => proxies.map((p) => sidecarSnapshot(mesh, p)), runs, false);
  const snaps = tr.result;
  global.gc?.();
  const heapSnaps = process.memoryUsage().heapUsed - heap0;

  // Naive: encode every resource of every proxy.
  const enc = timed(() => {
    let bytes = 0;
    for (const s of snaps) for (const x of encodeAll(s).values()) bytes += x.bytes;
    return bytes;
  }, runs, false);

  // Through the ResourceCache (fresh cache per run; objects are new per proxy, so each is
  // encoded and hashed, and equal contents then share one EncodedResource).
  const cached = timed(() => {
    const cache = new ResourceCache();
    const held: EncodedResource[] = [];
    for (const s of snaps) for (const [t, n, r] of entries(s)) held.push(cache.encode(t, n, r));
    return { cache, held };
  }, runs, false);
  const { cache, held } = cached.result;
  const distinct = new Map<EncodedResource, TypeUrl>();
  for (const e of held) distinct.set(e, e.typeUrl as TypeUrl);

  // The same cache handed the same objects again (what memoised translation would hit).
  const again = timed(() => {
    for (const s of snaps) for (const [t, n, r] of entries(s)) cache.encode(t, n, r);
  }, runs, false);

  // What MeshSnapshotProvider does: translate through a SidecarShare (proxies alike share the
  // outbound side, translated once) and encode through a ResourceCache (identity hits).
  const shared = timed(() => {
    const share = new SidecarShare(DEFAULT_SIDECAR_OPTIONS);
    const cache = new ResourceCache();
    let n = 0;
    for (const p of proxies) for (const [t, name, r] of entries(sidecarSnapshot(mesh, p, {}, ALL_TYPE_SET, share))) n += cache.encode(t, name, r).value.length > 0 ? 1 : 0;
    return n;
  }, runs, false);

  const perType = new Map<TypeUrl, { total: number; bytes: number; distinct: number; uniqueBytes: number }>();
  for (const e of held) {
    const t = e.typeUrl as TypeUrl;
    const x = perType.get(t) ?? { total: 0, bytes: 0, distinct: 0, uniqueBytes: 0 };
    x.total++;
    x.bytes += e.value.length;
    perType.set(t, x);
  }
  for (const e of distinct.keys()) {
    const x = perType.get(e.typeUrl as TypeUrl);
    if (x) {
      x.distinct++;
      x.uniqueBytes += e.value.length;
    }
  }
  let total = 0;
  let totalBytes = 0;
  let uniq = 0;
  let uniqBytes = 0;
  const rows = ALL_TYPES.filter((t) => perType.has(t)).map((t) => {
    const x = perType.get(t) ?? { total: 0, bytes: 0, distinct: 0, uniqueBytes: 0 };
    total += x.total;
    totalBytes += x.bytes;
    uniq += x.distinct;
    uniqBytes += x.uniqueBytes;
    return [SHORT_NAME[t], String(x.total), mib(x.bytes), String(x.distinct), mib(x.uniqueBytes)];
  });
  rows.push(['total', String(total), mib(totalBytes), String(uniq), mib(uniqBytes)]);
  table(`${label}: ${PROXIES} proxies, one namespace — resources sent vs distinct contents (ResourceCache size ${cache.size})`, ['type', 'resources (all proxies)', 'encoded', 'distinct contents', 'distinct encoded'], rows);

  console.log(`\nheap held by the ${PROXIES} translated snapshots (objects, before encoding): ${global.gc ? mib(heapSnaps) : 'run node with --expose-gc to measure'}`);
  const per = (ms: number) => `${fmtMs(ms / PROXIES)} ms/proxy`;
  table(`${label}: ${PROXIES} proxies — time (median of ${runs}; code already warm from the one-proxy runs)`, ['step', 'total', 'per proxy'], [
    [`translate: ${PROXIES} × sidecarSnapshot (recomputed per proxy)`, `${fmtMs(tr.ms)} ms`, per(tr.ms)],
    [`encode: every resource of every proxy, no cache`, `${fmtMs(enc.ms)} ms`, per(enc.ms)],
    [`encode through ResourceCache (new objects: encode + sha256, bytes shared)`, `${fmtMs(cached.ms)} ms`, per(cached.ms)],
    [`ResourceCache hit on the same objects (identity; needs memoised translation)`, `${fmtMs(again.ms)} ms`, per(again.ms)],
    [`translate with a SidecarShare + encode through ResourceCache (what the provider does)`, `${fmtMs(shared.ms)} ms`, per(shared.ms)],
  ]);
}

function main(): void {
  setLogLevel('error');
  console.log(`translate: ${SERVICES} services × ${ENDPOINTS} endpoints, ${PROXIES} proxies, node ${process.version}, ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const svcs = services();
  const t0 = performance.now();
  const bare = buildMesh(svcs);
  const tBare = performance.now() - t0;
  const cfgs = configs();
  const t1 = performance.now();
  const full = buildMesh(svcs, cfgs);
  const tFull = performance.now() - t1;
  console.log(`buildMesh: services only ${fmtMs(tBare)} ms; with ${cfgs.length} configs ${fmtMs(tFull)} ms (model, not translation; indexes may build lazily on first use)`);

  for (const [label, mesh] of [
    ['services only', bare],
    ['services + VirtualService + DestinationRule each', full],
  ] as const) {
    oneProxy(label, mesh);
    manyProxies(label, mesh);
  }
}

main();
