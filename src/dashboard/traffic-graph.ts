// The mesh page's service graph, from the proxies' own statistics: two successive scrapes of each
// proxy's Envoy (`/stats/prometheus`, with the bootstrap's stats tags: src/sidecar/stats-config.ts,
// README.md "Metrics") give, per edge, requests per second, the share of 5xx and the p99 duration
// over the window between them. Pure.
//
// - workload → service, from each client proxy's outbound cluster stats:
//   `envoy_cluster_upstream_rq{direction="outbound", destination_service, response_code}` (each
//   request once, by its final response: neither `_rq_total`, which counts retried attempts, nor
//   `_rq_xx`, the same requests by class, is added) and
//   `envoy_cluster_upstream_rq_time_bucket{direction="outbound", destination_service, le}`. The
//   fixed tags `workload` and `workload_namespace` say whose proxy it is, so the pods of one
//   workload add up into one node, and the subsets and ports of one service into one edge.
// - service → workload, from each server proxy's inbound stats (`direction="inbound"`,
//   `destination_port`: the container port): the caller says which services select the workload
//   on that port (ServicesOf); none, no edge. Envoy cannot tell which of several such services a
//   request was sent to, so each of them gets the port's whole traffic. Inbound counts are what
//   the app answered: a retried request once per attempt.
//
// Rates are Prometheus's: Δcount / Δt per proxy (each proxy's own two scrape times), summed; a
// counter that went down was reset (its cluster was removed and re-added, or Envoy restarted)
// and counts from zero, as does a series absent from the previous scrape (Envoy lists only
// stats used since it started). A restart is also seen in `envoy_server_uptime` (shorter than the
// window, or than before), which catches a counter that has already climbed past its old value.
// The p99 is histogram_quantile(0.99) over the window's bucket increases, summed by `le`.
// Envoy publishes histograms at its stats flush (every 5 s), so their window lags the counters' by
// up to that much.
import { parseFloatValue, parsePrometheusText, type Sample } from '../util/prometheus-text.js';
import type { GraphEdge, GraphNode, GraphView } from './mesh-view.js';

export const REQUESTS_METRIC = 'envoy_cluster_upstream_rq';
export const DURATION_BUCKET_METRIC = 'envoy_cluster_upstream_rq_time_bucket';
export const UPTIME_METRIC = 'envoy_server_uptime';

/** The hosts of the services that select `workload` (of `namespace`) on container port `port`. */
export type ServicesOf = (namespace: string, workload: string, port: number) => readonly string[];

/** Traffic as one proxy reports it: outbound to a service, or inbound on a port. */
export type Flow =
  | { direction: 'outbound'; namespace: string; workload: string; service: string }
  | { direction: 'inbound'; namespace: string; workload: string; port: number };

/** What the graph needs of one scrape of one proxy (read once, kept as the next window's start). */
export interface ProxyStats {
  /** The proxy's own workload, from its fixed tags. */
  workload?: { namespace: string; name: string };
  uptimeSeconds?: number;
  /** envoy_cluster_upstream_rq, by series (its whole label set). */
  requests: Map<string, { flow: Flow; code: string; count: number }>;
  /** envoy_cluster_upstream_rq_time, by series (its label set less `le`): cumulative counts by bound (ms). */
  durations: Map<string, { flow: Flow; buckets: Map<number, number> }>;
}

/** One proxy in one scrape round: its stats and when they were read (ms since the epoch), or why not. */
export type ProxyRead = { at: number; stats: ProxyStats } | { at: number; error: string };

export interface ScrapeRound {
  /** When the round started (ms since the epoch). */
  at: number;
  /** By proxy id. */
  proxies: ReadonlyMap<string, ProxyRead>;
}

function flowOf(l: Record<string, string>): Flow | undefined {
  const namespace = l.workload_namespace;
  const workload = l.workload;
  if (!namespace || !workload) return undefined;
  if (l.direction === 'outbound' && l.destination_service) return { direction: 'outbound', namespace, workload, service: l.destination_service };
  if (l.direction === 'inbound' && /^\d+$/.test(l.destination_port ?? '')) return { direction: 'inbound', namespace, workload, port: Number(l.destination_port) };
  return undefined;
}

/** A series' identity: its labels (less `without`) in name order, joined by characters no label holds. */
function seriesKey(labels: Record<string, string>, without?: string): string {
  let key = '';
  for (const k of Object.keys(labels).sort()) if (k !== without) key += `${k}\u0001${labels[k]}\u0002`;
  return key;
}

const usable = (v: number): boolean => Number.isFinite(v) && v >= 0;

/** Reads what the graph needs from one scrape's samples. */
export function readProxyStats(samples: readonly Sample[]): ProxyStats {
  const stats: ProxyStats = { requests: new Map(), durations: new Map() };
  for (const s of samples) {
    if (!stats.workload && s.labels.workload && s.labels.workload_namespace) stats.workload = { namespace: s.labels.workload_namespace, name: s.labels.workload };
    if (s.name === UPTIME_METRIC) {
      if (usable(s.value)) stats.uptimeSeconds = s.value;
      continue;
    }
    if ((s.name !== REQUESTS_METRIC && s.name !== DURATION_BUCKET_METRIC) || !usable(s.value)) continue;
    const flow = flowOf(s.labels);
    if (!flow) continue;
    if (s.name === REQUESTS_METRIC) {
      if (s.labels.response_code) stats.requests.set(seriesKey(s.labels), { flow, code: s.labels.response_code, count: s.value });
      continue;
    }
    const le = parseFloatValue(s.labels.le ?? '');
    if (le === undefined || Number.isNaN(le)) continue;
    const key = seriesKey(s.labels, 'le');
    let series = stats.durations.get(key);
    if (!series) stats.durations.set(key, (series = { flow, buckets: new Map() }));
    series.buckets.set(le, s.value);
  }
  return stats;
}

/** A scrape's result (text, or why there is none) as the graph keeps it. */
export function readScrape(r: { at: number; text: string } | { at: number; error: string }): ProxyRead {
  return 'error' in r ? { at: r.at, error: r.error } : { at: r.at, stats: readProxyStats(parsePrometheusText(r.text)) };
}

/** Increase of a counter; a decrease is a reset, counted from zero (as Prometheus's rate does). */
function increase(now: number, before: number | undefined): number {
  return before === undefined || now < before ? now : now - before;
}

/** Increase of a histogram's cumulative buckets; any bucket going down resets the whole histogram. */
function bucketIncrease(now: Map<number, number>, before: Map<number, number> | undefined): Map<number, number> {
  if (!before || [...now].some(([le, c]) => c < (before.get(le) ?? 0))) return now;
  return new Map([...now].map(([le, c]) => [le, c - (before.get(le) ?? 0)]));
}

/**
 * histogram_quantile(q) as Prometheus computes it: the bucket the rank falls in, linear
 * interpolation inside it (from 0 for the first bucket); a rank in the +Inf bucket gives the
 * highest finite bound. Null without observations or without a +Inf bucket.
 */
export function histogramQuantile(q: number, cumulative: ReadonlyMap<number, number>): number | null {
  const buckets = [...cumulative].sort(([a], [b]) => a - b).map(([le, count]) => ({ le, count }));
  if (buckets.length < 2 || buckets.at(-1)!.le !== Infinity) return null;
  // Sums of increases can lose monotonicity to a missing bucket: each bucket holds at least the ones below.
  for (let i = 1; i < buckets.length; i++) buckets[i].count = Math.max(buckets[i].count, buckets[i - 1].count);
  const total = buckets.at(-1)!.count;
  if (!(total > 0)) return null;
  let rank = q * total;
  let b = buckets.findIndex((x, i) => i < buckets.length - 1 && x.count >= rank);
  if (b < 0) b = buckets.length - 1;
  if (b === buckets.length - 1) return buckets[buckets.length - 2].le;
  if (b === 0 && buckets[0].le <= 0) return buckets[0].le;
  let start = 0;
  let count = buckets[b].count;
  if (b > 0) {
    start = buckets[b - 1].le;
    count -= buckets[b - 1].count;
    rank -= buckets[b - 1].count;
  }
  return start + (buckets[b].le - start) * (rank / count);
}

interface EdgeSum {
  source: string;
  target: string;
  rps: number;
  requests: number;
  errors: number;
  buckets: Map<number, number>;
}

const workloadId = (namespace: string, name: string): string => `workload:${namespace}/${name}`;
const serviceId = (host: string): string => `service:${host}`;
/** A Kubernetes service's namespace from its host (`<name>.<namespace>.svc…`); '' for other hosts. */
const hostNamespace = (host: string): string => /^[^.]+\.([^.]+)\.svc(?:\.|$)/.exec(host)?.[1] ?? '';

/** A proxy before its first request: what a restarted proxy's counts start from. */
const EMPTY: ProxyStats = { requests: new Map(), durations: new Map() };

/** A proxy restarted between its two scrapes: its uptime went down, or is shorter than the window. */
function restarted(before: ProxyStats, now: ProxyStats, windowSeconds: number): boolean {
  if (before.uptimeSeconds === undefined || now.uptimeSeconds === undefined) return false;
  // Envoy's uptime is whole seconds, rounded down.
  return now.uptimeSeconds < before.uptimeSeconds || now.uptimeSeconds + 1 < windowSeconds;
}

/**
 * The graph over the window from `previous` to `current` (rates are zero, and the window 0,
 * without a previous round). Every flow seen in `current` is an edge, with or without traffic in
 * the window; a proxy read in `current` but not in `previous` adds its edges without rates.
 */
export function trafficGraph(previous: ScrapeRound | undefined, current: ScrapeRound, servicesOf: ServicesOf): GraphView {
  const nodes = new Map<string, GraphNode>();
  const edges = new Map<string, EdgeSum>();
  const failed: GraphView['failed'] = [];
  let scraped = 0;
  const services = new Map<string, readonly string[]>();

  const workloadNode = (namespace: string, name: string): string => {
    const id = workloadId(namespace, name);
    if (!nodes.has(id)) nodes.set(id, { id, kind: 'workload', namespace, name });
    return id;
  };
  const serviceNode = (host: string): string => {
    const id = serviceId(host);
    if (!nodes.has(id)) nodes.set(id, { id, kind: 'service', namespace: hostNamespace(host), name: host });
    return id;
  };
  const edge = (source: string, target: string): EdgeSum => {
    const key = `${source}\n${target}`;
    let e = edges.get(key);
    if (!e) edges.set(key, (e = { source, target, rps: 0, requests: 0, errors: 0, buckets: new Map() }));
    return e;
  };
  const edgesOf = (f: Flow): EdgeSum[] => {
    const wl = workloadNode(f.namespace, f.workload);
    if (f.direction === 'outbound') return [edge(wl, serviceNode(f.service))];
    const key = `${f.namespace}\n${f.workload}\n${f.port}`;
    let hosts = services.get(key);
    if (!hosts) services.set(key, (hosts = [...new Set(servicesOf(f.namespace, f.workload, f.port))]));
    return hosts.map((h) => edge(serviceNode(h), wl));
  };

  for (const [proxy, read] of current.proxies) {
    if ('error' in read) {
      failed.push({ proxy, error: read.error });
      continue;
    }
    scraped++;
    const now = read.stats;
    if (now.workload) workloadNode(now.workload.namespace, now.workload.name);
    const prevRead = previous?.proxies.get(proxy);
    const seconds = prevRead && 'stats' in prevRead ? (read.at - prevRead.at) / 1000 : 0;
    // Rates need a window: an earlier read of this proxy, strictly before this one.
    const before = seconds > 0 && prevRead && 'stats' in prevRead ? (restarted(prevRead.stats, now, seconds) ? EMPTY : prevRead.stats) : undefined;

    for (const [key, s] of now.requests) {
      const sums = edgesOf(s.flow);
      if (!before) continue;
      const d = increase(s.count, before.requests.get(key)?.count);
      for (const e of sums) {
        e.rps += d / seconds;
        e.requests += d;
        if (s.code.startsWith('5')) e.errors += d;
      }
    }
    for (const [key, h] of now.durations) {
      const sums = edgesOf(h.flow);
      if (!before) continue;
      for (const [le, d] of bucketIncrease(h.buckets, before.durations.get(key)?.buckets)) {
        for (const e of sums) e.buckets.set(le, (e.buckets.get(le) ?? 0) + d);
      }
    }
  }

  const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const graphEdges: GraphEdge[] = [...edges.values()]
    .sort((a, b) => (a.source === b.source ? (a.target < b.target ? -1 : 1) : a.source < b.source ? -1 : 1))
    .map((e) => ({
      source: e.source,
      target: e.target,
      rps: e.rps,
      errorRate: e.requests > 0 ? e.errors / e.requests : 0,
      p99Ms: e.requests > 0 ? histogramQuantile(0.99, e.buckets) : null,
    }));
  return {
    nodes: [...nodes.values()].sort(byId),
    edges: graphEdges,
    windowSeconds: previous ? Math.max(0, (current.at - previous.at) / 1000) : 0,
    scraped,
    failed: failed.sort((a, b) => (a.proxy < b.proxy ? -1 : a.proxy > b.proxy ? 1 : 0)),
  };
}
