// The mesh page's service graph from a real Envoy's statistics, on loopback: a client sidecar
// (productpage-v1) started from the production bootstrap (src/sidecar/bootstrap.ts: its stats
// tags, matcher, buckets and Prometheus listener), whose outbound cluster
// `outbound|80||reviews.default.svc.cluster.local` (static here, as CDS would name it) leads to a
// local app that fails some requests with 500. The graph is read as the control plane reads it:
// stats-scraper.ts GETs the Prometheus listener with Envoy's `filter` and `usedonly`, twice, and
// traffic-graph.ts turns the two scrapes into the edge productpage-v1 → reviews. Between the
// scrapes, 20 requests, 5 of them failing: the edge's rate times the window is 20 (the 4
// requests before the first scrape are not in it), its error rate 0.25, and it has a p99.
import { jest } from '@jest/globals';
import http from 'node:http';
import type net from 'node:net';
import { MESH_STATS_FILTER, scrapeStats, type ScrapeResult } from '../../src/dashboard/stats-scraper.js';
import { readScrape, trafficGraph, type ScrapeRound } from '../../src/dashboard/traffic-graph.js';
import { bootstrap as sidecarBootstrap } from '../../src/sidecar/bootstrap.js';
import { parsePrometheusText } from '../../src/util/prometheus-text.js';
import { Envoy, freePort, waitFor } from '../support/envoy.js';

jest.setTimeout(120_000);

const NS = 'default';
const HOST = `reviews.${NS}.svc.cluster.local`;
const CLUSTER = `outbound|80||${HOST}`;
const CLIENT = { podName: 'productpage-v1-6d5f8c7b9-x2x4z', labels: { app: 'productpage', version: 'v1', 'pod-template-hash': '6d5f8c7b9' } };

let app: http.Server;
let envoy: Envoy;
let statsPort: number;
let outboundPort: number;

const sock = (port: number): object => ({ socket_address: { address: '127.0.0.1', port_value: port } });

/**
 * The production bootstrap of the client pod, with its listeners on loopback and, instead of
 * the control plane, a static outbound listener and cluster for reviews (to `appPort`).
 */
async function clientBootstrap(appPort: number): Promise<Record<string, unknown>> {
  const b = sidecarBootstrap({
    kind: 'sidecar',
    podName: CLIENT.podName,
    namespace: NS,
    podIp: '127.0.0.1',
    labels: CLIENT.labels,
    discoveryAddress: '127.0.0.1:1',
    clusterDomain: 'cluster.local',
    adminPort: await freePort(),
    statsPort,
    readinessPort: await freePort(),
    adsApi: 'GRPC',
    sdsSocket: '/nonexistent/sds.sock',
  });
  const statics = b.static_resources as { clusters: Array<{ name: string }>; listeners: Array<{ address: object }> };
  const rest = { ...b };
  delete rest.dynamic_resources;
  const router = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
  return {
    ...rest,
    static_resources: {
      clusters: [
        ...statics.clusters.filter((c) => c.name !== 'xds-grpc'),
        { name: CLUSTER, type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: sock(appPort) } }] }] } },
      ],
      listeners: [
        ...statics.listeners.map((l) => ({ ...l, address: { socket_address: { ...(l.address as { socket_address: object }).socket_address, address: '127.0.0.1' } } })),
        {
          name: 'test_outbound_80',
          address: sock(outboundPort),
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'outbound_0.0.0.0_80',
                    route_config: { name: '80', virtual_hosts: [{ name: `${HOST}:80`, domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: CLUSTER } }] }] },
                    http_filters: [router],
                  },
                },
              ],
            },
          ],
        },
      ],
    },
  };
}

function get(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: outboundPort, path, agent: false, timeout: 5000, headers: { host: 'reviews' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

/** Sends `n` requests, every 4th failing; the codes the client saw. */
async function traffic(n: number, tag: string): Promise<number[]> {
  const codes: number[] = [];
  for (let i = 0; i < n; i++) codes.push(await get(i % 4 === 0 ? `/fail-${tag}-${i}` : `/ok-${tag}-${i}`));
  return codes;
}

/**
 * A scrape as the control plane makes it, once Envoy's stats flush has brought the duration
 * histogram up to `requests` (counters are live; histograms reach the output every 5 s).
 */
async function scrapeAfterFlush(requests: number): Promise<ScrapeResult & { text: string }> {
  return waitFor(`the histogram to count ${requests} requests`, async () => {
    const [r] = await scrapeStats([{ proxyId: 'client', ip: '127.0.0.1' }], { port: statsPort });
    if (!('text' in r)) throw new Error(r.error);
    const count = parsePrometheusText(r.text).find((s) => s.name === 'envoy_cluster_upstream_rq_time_count' && s.labels.cluster_name === CLUSTER);
    return count?.value === requests && r;
  }, 30_000, 250);
}

beforeAll(async () => {
  app = http.createServer((req, res) => void res.writeHead(req.url?.startsWith('/fail') ? 500 : 200, { 'content-type': 'text/plain' }).end('reviews'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  statsPort = await freePort();
  outboundPort = await freePort();
  envoy = await Envoy.start(await clientBootstrap((app.address() as net.AddressInfo).port));
  await envoy.eventually('the reviews endpoint', async () => (await envoy.stat(`cluster.${CLUSTER}.membership_healthy`)) === 1);
});

afterAll(async () => {
  await envoy?.stop();
  await new Promise((r) => app?.close(r));
});

test('the edge productpage-v1 → reviews: requests in the window, 5xx share and p99 from two scrapes', async () => {
  // Before the window: 4 requests (1 failing), which the rates must not include.
  expect(await traffic(4, 'before')).toEqual([500, 200, 200, 200]);
  const first = await scrapeAfterFlush(4);
  // The known traffic: 20 requests, 5 of which the app fails.
  const codes = await traffic(20, 'window');
  expect(codes.filter((c) => c === 500)).toHaveLength(5);
  expect(codes.filter((c) => c === 200)).toHaveLength(15);
  const second = await scrapeAfterFlush(24);

  const round = (r: ScrapeResult & { text: string }): ScrapeRound => ({ at: r.at, proxies: new Map([['client', readScrape(r)]]) });
  const graph = trafficGraph(round(first), round(second), () => []);
  expect(graph.scraped).toBe(1);
  expect(graph.failed).toEqual([]);
  expect(graph.windowSeconds).toBeCloseTo((second.at - first.at) / 1000, 10);
  expect(graph.nodes).toEqual([
    { id: `service:${HOST}`, kind: 'service', namespace: NS, name: HOST },
    { id: `workload:${NS}/productpage-v1`, kind: 'workload', namespace: NS, name: 'productpage-v1' },
  ]);
  expect(graph.edges).toHaveLength(1);
  const [edge] = graph.edges;
  expect(edge.source).toBe(`workload:${NS}/productpage-v1`);
  expect(edge.target).toBe(`service:${HOST}`);
  // Δcount = rps × Δt = 20: the window's requests, not the 24 since Envoy started.
  expect(edge.rps * graph.windowSeconds).toBeCloseTo(20, 6);
  expect(edge.errorRate).toBe(0.25);
  expect(edge.p99Ms).not.toBeNull();
  expect(edge.p99Ms).toBeGreaterThan(0);
});

test("Envoy's `filter` matches a stat's own name, not its Prometheus name: the scrape holds only the graph's series", async () => {
  // Some traffic, flushed (the test above sent it; alone, this one sends its own).
  await get('/ok-filter');
  const names = await waitFor('a flushed histogram', async () => {
    const [r] = await scrapeStats([{ proxyId: 'client', ip: '127.0.0.1' }], { port: statsPort });
    if (!('text' in r)) throw new Error(r.error);
    const seen = new Set(parsePrometheusText(r.text).map((s) => s.name));
    return seen.has('envoy_cluster_upstream_rq_time_bucket') && seen;
  }, 30_000, 250);
  expect([...names].sort()).toEqual([
    'envoy_cluster_upstream_rq',
    'envoy_cluster_upstream_rq_time_bucket',
    'envoy_cluster_upstream_rq_time_count',
    'envoy_cluster_upstream_rq_time_sum',
    'envoy_server_uptime',
  ]);
  // The same series asked for by their Prometheus name: nothing.
  const byPromName = await fetch(`http://127.0.0.1:${statsPort}/stats/prometheus?usedonly&filter=${encodeURIComponent('^envoy_cluster_upstream_rq')}`);
  expect(parsePrometheusText(await byPromName.text())).toEqual([]);
  // Envoy's filter is RE2: what RE2 cannot run (a lookahead) is refused, so MESH_STATS_FILTER must be RE2.
  const lookahead = await fetch(`http://127.0.0.1:${statsPort}/stats/prometheus?filter=${encodeURIComponent('^cluster\\.(?=outbound)')}`);
  expect(lookahead.status).toBe(400);
  expect(MESH_STATS_FILTER).not.toMatch(/\(\?[=!<]/);
});
