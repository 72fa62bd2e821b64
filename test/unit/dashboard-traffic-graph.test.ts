// The mesh page's service graph from two scrapes of each proxy, as Envoy writes them with the
// bootstrap's stats tags (README.md "Metrics"): requests per second, the share of 5xx and the p99
// per edge over the window, counter resets and restarts, the server side mapped to services,
// and the pods of one workload adding up.
import { histogramQuantile, readScrape, trafficGraph, type ProxyRead, type ScrapeRound, type ServicesOf } from '../../src/dashboard/traffic-graph.js';
import type { GraphEdge } from '../../src/dashboard/mesh-view.js';
import { DURATION_BUCKETS_MS } from '../../src/sidecar/stats-config.js';

const NS = 'default';
const REVIEWS = `reviews.${NS}.svc.cluster.local`;
const RATINGS = `ratings.${NS}.svc.cluster.local`;

interface Proxy {
  workload: string;
  namespace?: string;
  uptime?: number;
  /** Outbound: host → { code → count }. */
  out?: Record<string, Record<string, number>>;
  /** Outbound: host → cumulative counts per bucket bound (DURATION_BUCKETS_MS, then +Inf). */
  outTime?: Record<string, number[]>;
  /** Inbound: port → { code → count }. */
  in?: Record<number, Record<string, number>>;
  inTime?: Record<number, number[]>;
}

const labelText = (l: Record<string, string>): string => `{${Object.entries(l).map(([k, v]) => `${k}="${v}"`).join(',')}}`;

/** A proxy's /stats/prometheus as Envoy writes it with the bootstrap's tags (and the stats the graph must not add). */
function envoyText(p: Proxy): string {
  const id = { workload: p.workload, workload_namespace: p.namespace ?? NS, canonical_service: p.workload.replace(/-v\d+$/, ''), canonical_revision: 'v1' };
  const lines: string[] = [];
  const cluster = (direction: string, port: string, host: string) => ({
    ...id,
    cluster_name: `${direction}|${port}||${host}`,
    direction,
    destination_port: port,
    ...(host ? { destination_service: host } : {}),
  });
  const counters = (l: Record<string, string>, codes: Record<string, number>): void => {
    const total = Object.values(codes).reduce((a, b) => a + b, 0);
    lines.push('# TYPE envoy_cluster_upstream_rq counter');
    for (const [code, n] of Object.entries(codes)) lines.push(`envoy_cluster_upstream_rq${labelText({ response_code: code, ...l })} ${n}`);
    // The same requests again, by class, as attempts, and completed: none of these may be added.
    for (const cls of new Set(Object.keys(codes).map((c) => c[0]))) {
      const n = Object.entries(codes).filter(([c]) => c[0] === cls).reduce((a, [, v]) => a + v, 0);
      lines.push(`envoy_cluster_upstream_rq_xx${labelText({ response_code_class: cls, ...l })} ${n}`);
    }
    lines.push(`envoy_cluster_upstream_rq_total${labelText(l)} ${total * 2}`, `envoy_cluster_upstream_rq_completed${labelText(l)} ${total}`);
  };
  const histogram = (l: Record<string, string>, cumulative: number[]): void => {
    lines.push('# TYPE envoy_cluster_upstream_rq_time histogram');
    const bounds = [...DURATION_BUCKETS_MS.map(String), '+Inf'];
    bounds.forEach((le, i) => lines.push(`envoy_cluster_upstream_rq_time_bucket${labelText({ ...l, le })} ${cumulative[i]}`));
    lines.push(`envoy_cluster_upstream_rq_time_sum${labelText(l)} 1.2000000000000000177635683940025`, `envoy_cluster_upstream_rq_time_count${labelText(l)} ${cumulative.at(-1)}`);
  };
  for (const [host, codes] of Object.entries(p.out ?? {})) counters(cluster('outbound', '9080', host), codes);
  for (const [host, b] of Object.entries(p.outTime ?? {})) histogram(cluster('outbound', '9080', host), b);
  for (const [port, codes] of Object.entries(p.in ?? {})) counters(cluster('inbound', port, ''), codes);
  for (const [port, b] of Object.entries(p.inTime ?? {})) histogram(cluster('inbound', port, ''), b);
  // A cluster outside the mesh (no direction): not an edge.
  lines.push(`envoy_cluster_upstream_rq${labelText({ response_code: '200', ...id, cluster_name: 'xds-grpc' })} 1234`);
  if (p.uptime !== undefined) lines.push('# TYPE envoy_server_uptime gauge', `envoy_server_uptime${labelText(id)} ${p.uptime}`);
  return lines.join('\n') + '\n';
}

/** Cumulative buckets from per-bucket counts given as { bound: count } (bounds in DURATION_BUCKETS_MS, or Infinity). */
function cumulative(counts: Record<number, number>): number[] {
  let sum = 0;
  return [...DURATION_BUCKETS_MS, Infinity].map((b) => (sum += counts[b] ?? 0));
}

const read = (at: number, p: Proxy): ProxyRead => readScrape({ at, text: envoyText(p) });
const round = (at: number, proxies: Record<string, ProxyRead>): ScrapeRound => ({ at, proxies: new Map(Object.entries(proxies)) });
const noServices: ServicesOf = () => [];
const edge = (edges: GraphEdge[], source: string, target: string): GraphEdge | undefined => edges.find((e) => e.source === source && e.target === target);
const PRODUCTPAGE = `workload:${NS}/productpage-v1`;
const T0 = 1_700_000_000_000;

test('rps is the increase over the window, the error rate the share of 5xx, each request counted once', () => {
  const before = round(T0, { p1: read(T0, { workload: 'productpage-v1', out: { [REVIEWS]: { '200': 100, '503': 4 } } }) });
  const after = round(T0 + 10_000, { p1: read(T0 + 10_000, { workload: 'productpage-v1', out: { [REVIEWS]: { '200': 145, '503': 9, '500': 10 } } }) });
  const g = trafficGraph(before, after, noServices);
  // 45 + 5 + 10 (a code first seen in this window counts from zero) = 60 requests in 10 s, 15 of them 5xx.
  expect(edge(g.edges, PRODUCTPAGE, `service:${REVIEWS}`)).toEqual({ source: PRODUCTPAGE, target: `service:${REVIEWS}`, rps: 6, errorRate: 0.25, p99Ms: null });
  expect(g.edges).toHaveLength(1);
  expect(g.nodes).toEqual([
    { id: `service:${REVIEWS}`, kind: 'service', namespace: NS, name: REVIEWS },
    { id: PRODUCTPAGE, kind: 'workload', namespace: NS, name: 'productpage-v1' },
  ]);
  expect(g.windowSeconds).toBe(10);
  expect(g.scraped).toBe(1);
  expect(g.failed).toEqual([]);
});

test('p99 interpolates linearly inside the bucket the 99th percentile falls in, over the window only', () => {
  // Before the window: 1000 fast requests (≤ 1 ms), which must not pull the p99 down.
  const before = { workload: 'productpage-v1', out: { [REVIEWS]: { '200': 1000 } }, outTime: { [REVIEWS]: cumulative({ 1: 1000 }) } };
  // In the window: 100 requests, 50 in (1, 5], 40 in (5, 10], 10 in (10, 25]. Rank 99 is the 9th of
  // the 10 in (10, 25]: 10 + 15 × 9/10 = 23.5 ms.
  const after = { workload: 'productpage-v1', out: { [REVIEWS]: { '200': 1100 } }, outTime: { [REVIEWS]: cumulative({ 1: 1000, 5: 50, 10: 40, 25: 10 }) } };
  const g = trafficGraph(round(T0, { p: read(T0, before) }), round(T0 + 5000, { p: read(T0 + 5000, after) }), noServices);
  const e = edge(g.edges, PRODUCTPAGE, `service:${REVIEWS}`)!;
  expect(e.rps).toBe(20);
  expect(e.p99Ms).toBeCloseTo(23.5, 10);
});

test("histogram_quantile's edge cases: the first bucket from 0, the +Inf bucket, no observations", () => {
  const b = (counts: Record<number, number>): Map<number, number> => new Map([...DURATION_BUCKETS_MS, Infinity].map((le, i) => [le, cumulative(counts)[i]]));
  expect(histogramQuantile(0.99, b({ 0.5: 100 }))).toBeCloseTo(0.495, 10);
  // Past the highest finite bound: that bound (Prometheus's answer).
  expect(histogramQuantile(0.99, b({ 0.5: 1, [Infinity]: 99 }))).toBe(3_600_000);
  expect(histogramQuantile(0.5, b({ 100: 1, 250: 1 }))).toBe(100);
  expect(histogramQuantile(0.99, b({}))).toBeNull();
  expect(histogramQuantile(0.99, new Map([[1, 5], [5, 10]]))).toBeNull(); // no +Inf bucket
});

test('a counter that went down was reset and counts from zero, the histogram too', () => {
  const before = { workload: 'productpage-v1', out: { [REVIEWS]: { '200': 500, '503': 50 } }, outTime: { [REVIEWS]: cumulative({ 5: 550 }) } };
  // The cluster was removed and re-added: 30 requests since, 3 failed, all in (10, 25].
  const after = { workload: 'productpage-v1', out: { [REVIEWS]: { '200': 27, '503': 3 } }, outTime: { [REVIEWS]: cumulative({ 25: 30 }) } };
  const g = trafficGraph(round(T0, { p: read(T0, before) }), round(T0 + 10_000, { p: read(T0 + 10_000, after) }), noServices);
  const e = edge(g.edges, PRODUCTPAGE, `service:${REVIEWS}`)!;
  expect(e.rps).toBe(3);
  expect(e.errorRate).toBeCloseTo(0.1, 10);
  expect(e.p99Ms).toBeCloseTo(10 + 15 * ((0.99 * 30) / 30), 10);
});

test('a restarted Envoy (uptime shorter than the window) counts from zero even past its old value', () => {
  const before = { workload: 'productpage-v1', uptime: 3600, out: { [REVIEWS]: { '200': 100 } } };
  // Restarted 8 s ago and since answered 120: more than before, but not 20.
  const after = { workload: 'productpage-v1', uptime: 8, out: { [REVIEWS]: { '200': 120 } } };
  const g = trafficGraph(round(T0, { p: read(T0, before) }), round(T0 + 20_000, { p: read(T0 + 20_000, after) }), noServices);
  expect(edge(g.edges, PRODUCTPAGE, `service:${REVIEWS}`)!.rps).toBe(6);
  // Not restarted (uptime grew by the window): the plain increase.
  const still = { ...after, uptime: 3620 };
  expect(edge(trafficGraph(round(T0, { p: read(T0, before) }), round(T0 + 20_000, { p: read(T0 + 20_000, still) }), noServices).edges, PRODUCTPAGE, `service:${REVIEWS}`)!.rps).toBe(1);
});

test('server side: inbound stats become service → workload edges through the services that select the workload on that port', () => {
  const servicesOf: ServicesOf = (ns, wl, port) => (ns === NS && wl === 'reviews-v1' && port === 9080 ? [REVIEWS] : wl === 'shared-v1' ? [REVIEWS, RATINGS] : []);
  const before = round(T0, {
    r1: read(T0, { workload: 'reviews-v1', in: { 9080: { '200': 10 }, 15999: { '200': 1 } }, inTime: { 9080: cumulative({ 5: 10 }) } }),
    s1: read(T0, { workload: 'shared-v1', in: { 8080: { '200': 0 } } }),
  });
  const after = round(T0 + 4000, {
    r1: read(T0 + 4000, { workload: 'reviews-v1', in: { 9080: { '200': 26, '500': 4 }, 15999: { '200': 9 } }, inTime: { 9080: cumulative({ 5: 30 }) } }),
    s1: read(T0 + 4000, { workload: 'shared-v1', in: { 8080: { '200': 8 } } }),
  });
  const g = trafficGraph(before, after, servicesOf);
  const REVIEWS_V1 = `workload:${NS}/reviews-v1`;
  const e = edge(g.edges, `service:${REVIEWS}`, REVIEWS_V1)!;
  expect(e.rps).toBe(5);
  expect(e.errorRate).toBeCloseTo(0.2, 10);
  expect(e.p99Ms).toBeCloseTo(1 + 4 * 0.99, 10);
  // Port 15999 has no service: no edge, nothing added to 9080's. Each service selecting shared-v1 gets its traffic.
  expect(g.edges.filter((x) => x.target === REVIEWS_V1)).toHaveLength(1);
  expect(edge(g.edges, `service:${REVIEWS}`, `workload:${NS}/shared-v1`)!.rps).toBe(2);
  expect(edge(g.edges, `service:${RATINGS}`, `workload:${NS}/shared-v1`)!.rps).toBe(2);
  // No outbound edge comes from inbound stats.
  expect(g.edges.filter((x) => x.source.startsWith('workload:'))).toEqual([]);
});

test('the pods of one workload add up into one node and one edge, each over its own window', () => {
  const before = round(T0, {
    a: read(T0, { workload: 'productpage-v1', out: { [REVIEWS]: { '200': 10 } }, outTime: { [REVIEWS]: cumulative({ 5: 10 }) } }),
    b: read(T0 + 1000, { workload: 'productpage-v1', out: { [REVIEWS]: { '200': 500, '503': 1 } }, outTime: { [REVIEWS]: cumulative({ 5: 501 }) } }),
    c: read(T0, { workload: 'details-v1', out: { [REVIEWS]: { '200': 1 } } }),
  });
  const after = round(T0 + 10_000, {
    // a: 20 in 10 s (2/s); b: 45 in 5 s (9/s), 5 of them 503.
    a: read(T0 + 10_000, { workload: 'productpage-v1', out: { [REVIEWS]: { '200': 30 } }, outTime: { [REVIEWS]: cumulative({ 5: 30 }) } }),
    b: read(T0 + 6000, { workload: 'productpage-v1', out: { [REVIEWS]: { '200': 540, '503': 6 } }, outTime: { [REVIEWS]: cumulative({ 5: 501, 250: 45 }) } }),
    c: read(T0 + 10_000, { workload: 'details-v1', out: { [REVIEWS]: { '200': 11 } } }),
  });
  const g = trafficGraph(before, after, noServices);
  const e = edge(g.edges, PRODUCTPAGE, `service:${REVIEWS}`)!;
  expect(e.rps).toBeCloseTo(11, 10);
  expect(e.errorRate).toBeCloseTo(5 / 65, 10);
  // 65 observations, 20 in (1, 5], 45 in (100, 250]: rank 64.35 is in (100, 250].
  expect(e.p99Ms).toBeCloseTo(100 + 150 * ((0.99 * 65 - 20) / 45), 10);
  expect(edge(g.edges, `workload:${NS}/details-v1`, `service:${REVIEWS}`)!.rps).toBe(1);
  expect(g.nodes.map((n) => n.id)).toEqual([`service:${REVIEWS}`, `workload:${NS}/details-v1`, PRODUCTPAGE]);
  expect(g.scraped).toBe(3);
});

test('before the second scrape: nodes and edges without rates; a proxy that failed is listed with why', () => {
  const first = round(T0, {
    p: read(T0, { workload: 'productpage-v1', uptime: 10, out: { [REVIEWS]: { '200': 100, '503': 1 } } }),
    idle: read(T0, { workload: 'ratings-v1', namespace: 'other', uptime: 10 }),
    gone: readScrape({ at: T0, error: 'connect ECONNREFUSED 10.0.0.9:15090' }),
  });
  const g = trafficGraph(undefined, first, noServices);
  expect(g.windowSeconds).toBe(0);
  expect(g.edges).toEqual([{ source: PRODUCTPAGE, target: `service:${REVIEWS}`, rps: 0, errorRate: 0, p99Ms: null }]);
  // A proxy without traffic is still a node (its fixed tags are on its uptime).
  expect(g.nodes.map((n) => n.id)).toContain('workload:other/ratings-v1');
  expect(g.scraped).toBe(2);
  expect(g.failed).toEqual([{ proxy: 'gone', error: 'connect ECONNREFUSED 10.0.0.9:15090' }]);

  // A proxy new in the second round (or failed in the first) adds its edges, but no rate: its
  // counts since it started are not this window's.
  const second = round(T0 + 5000, {
    p: read(T0 + 5000, { workload: 'productpage-v1', uptime: 15, out: { [REVIEWS]: { '200': 110, '503': 1 } } }),
    gone: read(T0 + 5000, { workload: 'details-v1', uptime: 3600, out: { [RATINGS]: { '200': 5000 } } }),
  });
  const g2 = trafficGraph(first, second, noServices);
  expect(edge(g2.edges, PRODUCTPAGE, `service:${REVIEWS}`)!.rps).toBe(2);
  expect(edge(g2.edges, `workload:${NS}/details-v1`, `service:${RATINGS}`)).toEqual({ source: `workload:${NS}/details-v1`, target: `service:${RATINGS}`, rps: 0, errorRate: 0, p99Ms: null });
  expect(g2.windowSeconds).toBe(5);
});

test("a window without requests: rate 0, error rate 0, no p99; a service outside Kubernetes has no namespace", () => {
  const p = { workload: 'productpage-v1', out: { 'api.example.com': { '200': 7 } }, outTime: { 'api.example.com': cumulative({ 5: 7 }) } };
  const g = trafficGraph(round(T0, { p: read(T0, p) }), round(T0 + 5000, { p: read(T0 + 5000, p) }), noServices);
  expect(g.edges).toEqual([{ source: PRODUCTPAGE, target: 'service:api.example.com', rps: 0, errorRate: 0, p99Ms: null }]);
  expect(g.nodes.find((n) => n.kind === 'service')).toEqual({ id: 'service:api.example.com', kind: 'service', namespace: '', name: 'api.example.com' });
});
