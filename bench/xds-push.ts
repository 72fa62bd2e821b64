// Full and incremental pushes of the xDS server to N simulated proxies (gRPC ADS clients in a
// child process, one stream each, Envoy-like subscriptions) for S services. Measures the initial
// full push, then single changes: from the change until every client has received it, with the
// server's CPU time (this process), the clients' CPU time (the child) and bytes per push.
//
// Two sources of configuration:
//   --source mesh    (default) the control plane's own path: a ConfigStore and ServiceRegistry,
//                    the Mesh, MeshSnapshotProvider (translation per proxy, sharing the outbound
//                    side between sidecars alike). S Services with 3 endpoints each, one pod per
//                    service as a proxy (each with its own labels and inbound port). Changes: one
//                    service's endpoints (EDS push), one VirtualService (a config push of every type).
//   --source static  a fixed snapshot (StaticSnapshotProvider): the server alone, no translation.
//
//   npx tsc && node dist/bench/xds-push.js [--source mesh|static] [--proxies 100] [--services 100] [--rounds 20] [--protocol sotw|delta]
//     [--only endpoints|routes|both]
//
// Clients and server share the machine's CPUs (2 here): wall times include the clients' work.
// Record results in BENCHMARKS.md with the machine and the date.
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { MeshSource } from '../src/push/changes.js';
import { MeshSnapshotProvider } from '../src/translate/provider.js';
import { buildSources, config, upsertEndpoints, type ServiceFixture } from '../test/support/mesh-fixtures.js';
import { setLogLevel } from '../src/util/logger.js';
import { registry as metrics } from '../src/util/metrics.js';
import type { Node } from '../src/xds/generated/envoy/config/core/v3/Node.js';
import { StaticSnapshotProvider, type Snapshot, type SnapshotProvider } from '../src/xds/snapshot.js';
import { XdsServer } from '../src/xds/server.js';
import { AdsClient } from '../test/support/ads-client.js';
import { edsCluster, endpoints, httpListener, routeConfiguration } from '../test/support/envoy-resources.js';
import { parseNode } from '../src/xds/proxy-info.js';
import { TypeUrl, type ClusterLoadAssignment, type RouteConfiguration } from '../src/xds/types.js';

const { Cluster, Endpoint, Listener, Route } = TypeUrl;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}

const source = arg('source', 'mesh') as 'mesh' | 'static';
const proxies = Number(arg('proxies', '100'));
const services = Number(arg('services', '100'));
const rounds = Number(arg('rounds', '20'));
/** Which single changes to measure: endpoints, routes, or both. */
const only = arg('only', 'both') as 'endpoints' | 'routes' | 'both';
const protocol = arg('protocol', 'sotw') as 'sotw' | 'delta';

/** What a benchmark source offers: the provider, what clients subscribe to, and the changes. */
interface Source {
  provider: SnapshotProvider;
  node(p: number): Node;
  /** EDS and RDS names a proxy subscribes to (CDS and LDS are wildcards). */
  names: { endpoints: string[]; routes: string[] };
  /** Changes one service's endpoints; returns the push to make. */
  endpointChange(round: number): Promise<{ types?: TypeUrl[]; reason: string }>;
  /** Changes one route (a VirtualService); returns the push to make. */
  routeChange(round: number): Promise<{ types?: TypeUrl[]; reason: string }>;
}

// --- static: a fixed snapshot, swapped by hand

const staticCluster = (i: number) => `outbound|80||svc-${i}.default.svc.cluster.local`;

function staticNodes(): (p: number) => Node {
  return (p) => ({ id: `sidecar~10.1.${(p >> 8) & 255}.${p & 255}~bench-${p}.default~default.svc.cluster.local` });
}

function staticSource(): Source {
  const cla = (i: number, generation: number): ClusterLoadAssignment => endpoints(staticCluster(i), [0, 1, 2].map((k) => ({ host: `10.${generation % 250}.${i % 250}.${k + 1}`, port: 8080 })));
  const routes = (target: number): RouteConfiguration => {
    const r = routeConfiguration('80', [{ prefix: '/', cluster: staticCluster(0) }]);
    r.virtual_hosts = Array.from({ length: services }, (_, i) => ({
      name: `svc-${i}.default.svc.cluster.local:80`,
      domains: [`svc-${i}.default.svc.cluster.local`, `svc-${i}`],
      routes: [{ match: { prefix: '/' }, route: { cluster: staticCluster(i === 0 ? target : i) } }],
    }));
    return r;
  };
  const snapshot: Snapshot = {
    [Cluster]: new Map(Array.from({ length: services }, (_, i) => [staticCluster(i), edsCluster(staticCluster(i))])),
    [Endpoint]: new Map(Array.from({ length: services }, (_, i) => [staticCluster(i), cla(i, 0)])),
    [Listener]: new Map([['virtualOutbound', httpListener('virtualOutbound', 15001, '80', { host: '0.0.0.0' })]]),
    [Route]: new Map([['80', routes(0)]]),
  };
  const provider = new StaticSnapshotProvider(snapshot);
  return {
    provider,
    node: staticNodes(),
    names: { endpoints: Array.from({ length: services }, (_, i) => staticCluster(i)), routes: ['80'] },
    endpointChange: async (round) => {
      const next = new Map(provider.get()[Endpoint]);
      next.set(staticCluster(round % services), cla(round % services, round));
      provider.update({ [Endpoint]: next });
      return { types: [Endpoint], reason: 'endpoints' };
    },
    routeChange: async (round) => {
      provider.update({ [Route]: new Map([['80', routes(round % 2)]]) });
      return { types: [Route], reason: 'config' };
    },
  };
}

// --- mesh: the control plane's path (store and registry → Mesh → translation)

const NS = 'bench';

const meshIp = (i: number, k: number) => `10.${1 + (i >> 8)}.${i & 255}.${k + 1}`;

/** Proxy p is the first pod of service p mod S (its labels, its IP). */
function meshNodes(): (p: number) => Node {
  return (p) => {
    const i = p % services;
    return {
      id: `sidecar~${meshIp(i, 0)}~svc-${i}-${p}.${NS}~${NS}.svc.cluster.local`,
      metadata: { fields: { LABELS: { structValue: { fields: { app: { stringValue: `svc-${i}` } } } } } },
    };
  };
}

function meshSource(): Source {
  const ip = meshIp;
  const fixture = (i: number): ServiceFixture => ({
    namespace: NS,
    name: `svc-${i}`,
    clusterIP: `10.96.${i >> 8}.${(i & 255) + 1}`,
    ports: [{ name: 'http', port: 80, targetPort: 8080 }],
    endpoints: [0, 1, 2].map((k) => ({ address: ip(i, k), labels: { app: `svc-${i}` } })),
  });
  const fixtures = Array.from({ length: services }, (_, i) => fixture(i));
  const { store, registry } = buildSources(fixtures);
  const mesh = new MeshSource(store, registry);
  const provider = new MeshSnapshotProvider(() => mesh.current());
  const node = meshNodes();
  const sample = provider.snapshot(parseNode(node(0) as Parameters<typeof parseNode>[0]), new Set([Endpoint, Route])) as Snapshot;
  return {
    provider,
    node,
    names: { endpoints: [...(sample[Endpoint]?.keys() ?? [])], routes: [...(sample[Route]?.keys() ?? [])] },
    endpointChange: async (round) => {
      const f = fixtures[round % services];
      upsertEndpoints(registry, f, [0, 1, 2].map((k) => ({ address: `10.200.${round % 250}.${k + 1}`, labels: { app: f.name } })));
      // As the control plane does on an EndpointSlice change (changes.ts): the mesh is kept.
      const kept = mesh.endpointsMoved([`${f.name}.${NS}.svc.cluster.local`]);
      return { types: kept ? [Endpoint] : [Cluster, Endpoint], reason: 'endpoints' };
    },
    routeChange: async (round) => {
      // A VirtualService on svc-0 moving its 80/20 split: a config change, every type evaluated.
      const w = 10 + (round % 80);
      store.upsert(config('VirtualService', NS, 'svc-0', { hosts: ['svc-0'], http: [{ route: [{ destination: { host: 'svc-0' }, weight: w }, { destination: { host: 'svc-1' }, weight: 100 - w }] }] }));
      mesh.invalidate();
      return { reason: 'config' };
    },
  };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function bytesSent(): Promise<number> {
  const m = await metrics.getSingleMetric('trellis_xds_bytes_sent_total')?.get();
  return (m?.values ?? []).reduce((n, v) => n + v.value, 0);
}

/** Messages between the benchmark and its client process. */
type ToWorker = { op: 'mark'; type: TypeUrl } | { op: 'stop' };
type FromWorker = { op: 'ready'; perClient: Record<string, number> } | { op: 'arrived'; cpuMs: number } | { op: 'marked' };

/** The clients, in a child process (this file with --worker), so CPU and heap here are the server's. */
class Clients {
  private readonly child: ChildProcess;
  private waiting: { resolve: (m: FromWorker) => void; reject: (e: Error) => void } | undefined;

  constructor(target: string, names: Source['names']) {
    this.child = fork(fileURLToPath(import.meta.url), ['--worker', target, JSON.stringify(names), ...process.argv.slice(2)], { stdio: 'inherit' });
    this.child.on('message', (m: FromWorker) => this.waiting?.resolve(m));
    this.child.on('exit', (code) => this.waiting?.reject(new Error(`client process exited (${code})`)));
  }

  private next(): Promise<FromWorker> {
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /** Resolves when every client holds its full configuration. */
  async ready(): Promise<Record<string, number>> {
    const m = await this.next();
    if (m.op !== 'ready') throw new Error(`unexpected ${m.op}`);
    return m.perClient;
  }

  /** Notes each client's response count of `type`; `arrived()` then waits for one more each. */
  async mark(type: TypeUrl): Promise<void> {
    const reply = this.next();
    this.child.send({ op: 'mark', type } satisfies ToWorker);
    await reply;
  }

  /** Resolves (with the clients' CPU since the mark) when every client got a newer response. */
  async arrived(): Promise<number> {
    const m = await this.next();
    if (m.op !== 'arrived') throw new Error(`unexpected ${m.op}`);
    return m.cpuMs;
  }

  async stop(): Promise<void> {
    this.waiting = undefined;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ op: 'stop' } satisfies ToWorker);
    await exited;
  }
}

async function worker(): Promise<void> {
  const i = process.argv.indexOf('--worker');
  const target = process.argv[i + 1];
  const names = JSON.parse(process.argv[i + 2]) as Source['names'];
  setLogLevel('error');
  const send = (m: FromWorker) => process.send?.(m);
  const src = source === 'mesh' ? meshNodes() : staticNodes();
  const clients: AdsClient[] = [];
  for (let p = 0; p < proxies; p++) {
    // A connection of its own, as each Envoy has: the server allows 64 streams per connection.
    const c = new AdsClient(target, { node: src(p), protocol, history: false, channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
    c.subscribe(Cluster, []);
    c.subscribe(Endpoint, names.endpoints);
    c.subscribe(Listener, []);
    c.subscribe(Route, names.routes);
    clients.push(c);
  }
  const full = (c: AdsClient) => c.size(Endpoint) === names.endpoints.length && c.size(Route) === names.routes.length && c.size(Cluster) > 0 && c.size(Listener) > 0;
  await Promise.all(clients.map((c) => c.until('initial config', () => full(c), 3_600_000)));
  const one = clients[0];
  send({ op: 'ready', perClient: { clusters: one.size(Cluster), endpoints: one.size(Endpoint), listeners: one.size(Listener), routes: one.size(Route) } });
  process.on('message', (m: ToWorker) => {
    if (m.op === 'stop') {
      for (const c of clients) c.close();
      process.exit(0);
    }
    const before = clients.map((c) => c.responseCount(m.type));
    const c0 = process.cpuUsage();
    send({ op: 'marked' });
    void Promise.all(clients.map((c, k) => c.until('change', () => c.responseCount(m.type) > before[k], 600_000))).then(() => {
      const c1 = process.cpuUsage(c0);
      send({ op: 'arrived', cpuMs: (c1.user + c1.system) / 1000 });
    });
  });
}

async function main(): Promise<void> {
  if (process.argv.includes('--worker')) return worker();
  setLogLevel('error');
  const src = source === 'mesh' ? meshSource() : staticSource();
  const server = new XdsServer({ provider: src.provider, concurrency: 64 });
  const target = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
  const heapBefore = process.memoryUsage().heapUsed;
  console.log(`xds-push: source ${source}, ${proxies} proxies (${protocol}), ${services} services, node ${process.version}, ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);

  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const clients = new Clients(target, src.names);
  const perClient = await clients.ready();
  const initialMs = performance.now() - t0;
  const initialCpu = process.cpuUsage(c0);
  const heapPerProxy = (process.memoryUsage().heapUsed - heapBefore) / proxies;
  console.log(
    `initial full push      ${initialMs.toFixed(0)} ms (clients connecting included), server CPU ${((initialCpu.user + initialCpu.system) / 1000).toFixed(0)} ms; ` +
      `per proxy ${perClient.clusters} clusters, ${perClient.endpoints} endpoint sets, ${perClient.listeners} listeners, ${perClient.routes} route configs; ` +
      `server heap growth ~${(heapPerProxy / 1024).toFixed(0)} KiB per proxy`,
  );

  async function measure(kind: string, change: (round: number) => Promise<{ types?: TypeUrl[]; reason: string }>, watched: TypeUrl): Promise<void> {
    const latencies: number[] = [];
    const cpu: number[] = [];
    const clientCpu: number[] = [];
    const bytes: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      await clients.mark(watched);
      const b0 = await bytesSent();
      const c0 = process.cpuUsage();
      const start = performance.now();
      const arrived = clients.arrived();
      const push = await change(round);
      await server.push(push);
      clientCpu.push(await arrived);
      latencies.push(performance.now() - start);
      const c1 = process.cpuUsage(c0);
      cpu.push((c1.user + c1.system) / 1000);
      bytes.push((await bytesSent()) - b0);
    }
    const fmt = (x: number) => x.toFixed(1);
    console.log(
      `${kind.padEnd(22)} convergence p50 ${fmt(percentile(latencies, 50))} ms  p99 ${fmt(percentile(latencies, 99))} ms  ` +
        `server CPU/push ${fmt(percentile(cpu, 50))} ms (p50)  clients' CPU/push ${fmt(percentile(clientCpu, 50))} ms  bytes/push ${Math.round(percentile(bytes, 50))}`,
    );
  }

  if (only !== 'routes') await measure('endpoints (EDS)', (r) => src.endpointChange(r), Endpoint);
  if (only !== 'endpoints') await measure('route (VirtualService)', (r) => src.routeChange(r), Route);

  await clients.stop();
  await server.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
