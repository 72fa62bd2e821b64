// Micro benchmark of the xDS server: N simulated proxies (gRPC ADS clients in this process, one
// stream each, Envoy-like subscriptions) and S services. Measures the initial full push, then
// the convergence latency of single changes (push() until every client has received the new
// version and sent its ACK), with CPU time and bytes per push.
//
//   npm run build && node dist/bench/xds-push.js [--proxies 100] [--services 100] [--rounds 50] [--protocol sotw|delta]
//
// Clients and server share one process (and one CPU budget): numbers are an upper bound of the
// server's cost. Record results in BENCHMARKS.md with the machine and the date.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { setLogLevel } from '../src/util/logger.js';
import { registry } from '../src/util/metrics.js';
import { StaticSnapshotProvider, type Snapshot } from '../src/xds/snapshot.js';
import { XdsServer } from '../src/xds/server.js';
import { AdsClient } from '../src/xds/testing/ads-client.js';
import { edsCluster, endpoints, httpListener, routeConfiguration } from '../src/xds/testing/fixtures.js';
import { TypeUrl, type ClusterLoadAssignment, type RouteConfiguration } from '../src/xds/types.js';

const { Cluster, Endpoint, Listener, Route } = TypeUrl;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}

const proxies = Number(arg('proxies', '100'));
const services = Number(arg('services', '100'));
const rounds = Number(arg('rounds', '50'));
const protocol = arg('protocol', 'sotw') as 'sotw' | 'delta';

const svc = (i: number) => `outbound|80||svc-${i}.default.svc.cluster.local`;

function cla(i: number, generation: number): ClusterLoadAssignment {
  return endpoints(svc(i), [0, 1, 2].map((k) => ({ host: `10.${generation % 250}.${i % 250}.${k + 1}`, port: 8080 })));
}

function routes(target: number): RouteConfiguration {
  const r = routeConfiguration('80', [{ prefix: '/', cluster: svc(0) }]);
  r.virtual_hosts = Array.from({ length: services }, (_, i) => ({
    name: `svc-${i}.default.svc.cluster.local:80`,
    domains: [`svc-${i}.default.svc.cluster.local`, `svc-${i}`],
    routes: [{ match: { prefix: '/' }, route: { cluster: svc(i === 0 ? target : i) } }],
  }));
  return r;
}

function snapshot(): Snapshot {
  return {
    [Cluster]: new Map(Array.from({ length: services }, (_, i) => [svc(i), edsCluster(svc(i))])),
    [Endpoint]: new Map(Array.from({ length: services }, (_, i) => [svc(i), cla(i, 0)])),
    [Listener]: new Map([['virtualOutbound', httpListener('virtualOutbound', 15001, '80', { host: '0.0.0.0' })]]),
    [Route]: new Map([['80', routes(0)]]),
  };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function bytesSent(): Promise<number> {
  const m = await registry.getSingleMetric('trellis_xds_bytes_sent_total')?.get();
  return (m?.values ?? []).reduce((n, v) => n + v.value, 0);
}

async function main(): Promise<void> {
  setLogLevel('error');
  const provider = new StaticSnapshotProvider(snapshot());
  const server = new XdsServer({ provider, concurrency: 64 });
  const target = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
  const heapBefore = process.memoryUsage().heapUsed;

  const t0 = performance.now();
  const clients: AdsClient[] = [];
  for (let p = 0; p < proxies; p++) {
    const c = new AdsClient(target, { node: { id: `sidecar~10.1.${(p >> 8) & 255}.${p & 255}~bench-${p}.default~default.svc.cluster.local` }, protocol });
    c.subscribe(Cluster, []);
    c.subscribe(Endpoint, Array.from({ length: services }, (_, i) => svc(i)));
    c.subscribe(Listener, []);
    c.subscribe(Route, ['80']);
    clients.push(c);
  }
  const full = (c: AdsClient) => c.names(Cluster).length === services && c.names(Endpoint).length === services && c.names(Route).length === 1 && c.names(Listener).length === 1;
  await Promise.all(clients.map((c) => c.until('initial config', () => full(c), 600_000)));
  const initialMs = performance.now() - t0;
  const heapPerProxy = (process.memoryUsage().heapUsed - heapBefore) / proxies;

  async function measure(kind: string, change: (round: number) => { types: TypeUrl[]; arrived: (c: AdsClient) => boolean }): Promise<void> {
    const latencies: number[] = [];
    const cpu: number[] = [];
    const bytes: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      const { types, arrived } = change(round);
      const b0 = await bytesSent();
      const c0 = process.cpuUsage();
      const start = performance.now();
      await server.push({ reason: 'bench', types });
      await Promise.all(clients.map((c) => c.until(kind, () => arrived(c), 60_000)));
      latencies.push(performance.now() - start);
      const c1 = process.cpuUsage(c0);
      cpu.push((c1.user + c1.system) / 1000);
      bytes.push((await bytesSent()) - b0);
    }
    const fmt = (x: number) => x.toFixed(1);
    console.log(
      `${kind.padEnd(22)} convergence p50 ${fmt(percentile(latencies, 50))} ms  p99 ${fmt(percentile(latencies, 99))} ms  ` +
        `cpu/push ${fmt(percentile(cpu, 50))} ms (p50)  bytes/push ${Math.round(percentile(bytes, 50))}`,
    );
  }

  console.log(`xds-push: ${proxies} proxies (${protocol}), ${services} services, node ${process.version}, ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}`);
  console.log(`initial full push      ${initialMs.toFixed(0)} ms  heap/proxy ~${(heapPerProxy / 1024).toFixed(0)} KiB (server and client together)`);

  // One service's endpoints change: EDS only.
  await measure('endpoints (EDS)', (round) => {
    const next = new Map(provider.get()[Endpoint]);
    const i = round % services;
    next.set(svc(i), cla(i, round));
    provider.update({ [Endpoint]: next });
    const before = new Map(clients.map((c) => [c, c.responseCount(Endpoint)]));
    return { types: [Endpoint], arrived: (c) => c.responseCount(Endpoint) > (before.get(c) ?? 0) };
  });

  // One route changes (a VirtualService): RDS only.
  await measure('route (RDS)', (round) => {
    const targetSvc = round % 2 === 0 ? 0 : 1;
    provider.update({ [Route]: new Map([['80', routes(targetSvc)]]) });
    const versions = new Map(clients.map((c) => [c, c.responseCount(Route)]));
    return { types: [Route], arrived: (c) => c.responseCount(Route) > (versions.get(c) ?? 0) };
  });

  for (const c of clients) c.close();
  await server.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
