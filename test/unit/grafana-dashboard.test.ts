// The chart's Grafana dashboard (charts/trellis/dashboards/trellis-mesh.json) queries only what
// exists: every metric an expression selects is one the control plane registers (read from the
// process registry, after loading every module under src/ that defines a metric) or one the
// sidecar bootstrap's stats configuration makes of Envoy's own stats, and every label it matches,
// groups by or shows in a legend is one that metric carries. A renamed metric or label fails here.
// The real Envoy's scrape is checked against the dashboard in test/integration/metrics-envoy.test.ts.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bootstrap, DEFAULT_PORTS } from '../../src/sidecar/bootstrap.js';
import { registry } from '../../src/util/metrics.js';
import { prometheusMetrics, type StatsTag } from '../support/envoy-stats.js';
import { allPanels, dashboardQueries, legendLabels, readDashboard, readPromql } from '../support/grafana-dashboard.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dashboard = readDashboard();

/** Labels every scraped series carries whatever the metric (Prometheus's own target labels). */
const TARGET_LABELS = ['job', 'instance'];

/** Every .ts file under src/ that defines a prom-client metric. */
function metricModules(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'generated' ? [] : metricModules(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && /\bnew (?:Counter|Gauge|Histogram|Summary)\b/.test(fs.readFileSync(p, 'utf8')) ? [p] : [];
  });
}

/** The control plane's metrics as Prometheus reads them (a histogram as _bucket, _sum, _count), with their labels. */
async function controlPlaneMetrics(): Promise<Map<string, Set<string>>> {
  for (const file of metricModules(path.join(root, 'src'))) await import(pathToFileURL(file).href);
  const out = new Map<string, Set<string>>();
  const json = await registry.getMetricsAsJSON();
  // prom-client's metric objects: their name, type and label names (not in its published types).
  for (const m of registry.getMetricsAsArray() as unknown as { name: string; type: string; labelNames?: readonly string[] }[]) {
    const defaults = (json.find((j) => j.name === m.name)?.values ?? []).flatMap((v) => Object.keys(v.labels));
    const labels = [...(m.labelNames ?? []), ...defaults].filter((l) => l !== 'le' && l !== 'quantile');
    if (m.type === 'histogram') {
      out.set(`${m.name}_bucket`, new Set([...labels, 'le']));
      out.set(`${m.name}_sum`, new Set(labels));
      out.set(`${m.name}_count`, new Set(labels));
    } else if (m.type === 'summary') {
      out.set(m.name, new Set([...labels, 'quantile']));
      out.set(`${m.name}_sum`, new Set(labels));
      out.set(`${m.name}_count`, new Set(labels));
    } else {
      out.set(m.name, new Set(labels));
    }
  }
  return out;
}

// Envoy's own stat names (its cluster manager's, router's and connection manager's), for the
// clusters and connection managers Trellis names: a client's outbound clusters (with and
// without a subset), a server's inbound cluster and connection manager.
const CLUSTERS = ['outbound|9080|v1|reviews.bookinfo.svc.cluster.local', 'outbound|9080||ratings.bookinfo.svc.cluster.local', 'inbound|9080||'];
const CLUSTER_STATS = [
  'upstream_rq_total', 'upstream_rq_active', 'upstream_rq_pending_active', 'upstream_rq_pending_overflow', 'upstream_rq_timeout', 'upstream_rq_per_try_timeout',
  'upstream_rq_retry', 'upstream_rq_retry_success', 'upstream_rq_retry_overflow', 'upstream_rq_rx_reset', 'upstream_rq_tx_reset', 'upstream_rq_completed',
  'upstream_rq_200', 'upstream_rq_404', 'upstream_rq_503', 'upstream_rq_2xx', 'upstream_rq_4xx', 'upstream_rq_5xx',
  'upstream_cx_total', 'upstream_cx_active', 'upstream_cx_connect_fail', 'upstream_cx_connect_timeout', 'upstream_cx_destroy', 'upstream_cx_rx_bytes_total', 'upstream_cx_tx_bytes_total', 'upstream_cx_none_healthy',
  'membership_healthy', 'membership_total', 'update_success', 'ssl.handshake', 'outlier_detection.ejections_active',
];
const CLUSTER_HISTOGRAMS = ['upstream_rq_time', 'upstream_cx_connect_ms', 'upstream_cx_length_ms'];
const HCM_PREFIXES = ['inbound|9080||', 'outbound_0.0.0.0_9080'];
const HCM_STATS = ['downstream_rq_total', 'downstream_rq_active', 'downstream_rq_2xx', 'downstream_rq_4xx', 'downstream_rq_5xx', 'downstream_cx_total', 'rbac.allowed', 'rbac.denied'];
const HCM_HISTOGRAMS = ['downstream_rq_time'];

/** What a sidecar's Prometheus endpoint shows of those stats, with its bootstrap's stats configuration. */
function envoyMetrics(): Map<string, Set<string>> {
  const b = bootstrap({
    kind: 'sidecar',
    podName: 'reviews-v1-5d8f9c7b4-abcde',
    namespace: 'bookinfo',
    labels: { app: 'reviews', version: 'v1', 'pod-template-hash': '5d8f9c7b4' },
    podIp: '10.0.0.7',
    discoveryAddress: 'trellis.trellis-system.svc:15012',
    clusterDomain: 'cluster.local',
    adsApi: 'DELTA_GRPC',
    sdsSocket: '/s',
    ...DEFAULT_PORTS,
  });
  const stats = b.stats_config as { stats_tags: StatsTag[]; stats_matcher: Record<string, unknown> };
  const out = new Map<string, Set<string>>();
  const add = (stat: string, histogram: boolean): void => {
    for (const m of prometheusMetrics(stats, stat, histogram)) out.set(m.name, new Set([...(out.get(m.name) ?? []), ...m.labels]));
  };
  for (const c of CLUSTERS) {
    for (const s of CLUSTER_STATS) add(`cluster.${c}.${s}`, false);
    for (const s of CLUSTER_HISTOGRAMS) add(`cluster.${c}.${s}`, true);
  }
  for (const p of HCM_PREFIXES) {
    for (const s of HCM_STATS) add(`http.${p}.${s}`, false);
    for (const s of HCM_HISTOGRAMS) add(`http.${p}.${s}`, true);
  }
  return out;
}

let known: Map<string, Set<string>>;
beforeAll(async () => {
  const cp = await controlPlaneMetrics();
  const envoy = envoyMetrics();
  // The two never share a name (the control plane's all start trellis_).
  expect([...cp.keys()].filter((n) => envoy.has(n))).toEqual([]);
  known = new Map([...cp, ...envoy]);
});

test('the metric lists are real: the control plane registers its xDS, CA and controller metrics, the bootstrap yields the request metrics README names', () => {
  for (const name of ['trellis_xds_connected_proxies', 'trellis_xds_pushes_total', 'trellis_xds_convergence_seconds_bucket', 'trellis_ca_requests_total', 'trellis_status_writes_total', 'trellis_process_cpu_seconds_total']) {
    expect([name, known.has(name)]).toEqual([name, true]);
  }
  expect([...known.get('envoy_cluster_upstream_rq')!].sort()).toEqual(
    ['canonical_revision', 'canonical_service', 'cluster_name', 'destination_port', 'destination_service', 'destination_subset', 'direction', 'response_code', 'workload', 'workload_namespace'],
  );
  expect(known.get('envoy_cluster_upstream_rq_time_bucket')).toContain('le');
  expect(known.get('envoy_cluster_upstream_rq_xx')).toContain('response_code_class');
  // Dropped by the stats matcher: not a metric a dashboard may use.
  expect(known.has('envoy_cluster_upstream_cx_length_ms_bucket')).toBe(false);
});

test('a Grafana dashboard: schema 36 or later, a Prometheus data source variable every query uses, a namespace variable', () => {
  expect(dashboard.uid).toBe('trellis-mesh');
  expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
  const vars = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
  expect(vars.datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
  expect(vars.namespace).toMatchObject({ type: 'query', datasource: { type: 'prometheus', uid: '${datasource}' } });
  const panels = allPanels(dashboard);
  expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
  for (const p of panels.filter((x) => x.type !== 'row')) {
    expect([p.title, p.datasource]).toEqual([p.title, { type: 'prometheus', uid: '${datasource}' }]);
    expect([p.title, p.targets?.length]).toEqual([p.title, expect.any(Number)]);
    for (const t of p.targets ?? []) expect([p.title, t.datasource?.uid]).toEqual([p.title, '${datasource}']);
    expect([p.title, p.gridPos.x + p.gridPos.w <= 24]).toEqual([p.title, true]);
  }
  expect(panels.filter((p) => p.type === 'row').map((p) => p.title.split(':')[0])).toEqual(['Mesh traffic', 'Inbound', 'Control plane']);
});

test('every metric a query selects exists, and every label it matches on is one that metric carries', () => {
  const problems: string[] = [];
  for (const q of dashboardQueries(dashboard)) {
    for (const s of readPromql(q.expr).selectors) {
      const labels = known.get(s.metric);
      if (!labels) problems.push(`${q.where}: no metric ${s.metric}`);
      else for (const l of s.labels.filter((x) => !labels.has(x) && !TARGET_LABELS.includes(x))) problems.push(`${q.where}: ${s.metric} has no label ${l}`);
    }
  }
  expect(problems).toEqual([]);
});

test('every label a query groups by, and every label its legend shows, is one of its metrics\' labels', () => {
  const problems: string[] = [];
  for (const q of dashboardQueries(dashboard)) {
    const read = readPromql(q.expr);
    const available = new Set([...TARGET_LABELS, ...read.selectors.flatMap((s) => [...(known.get(s.metric) ?? [])])]);
    for (const l of read.grouping.filter((x) => !available.has(x))) problems.push(`${q.where}: groups by ${l}, which none of its metrics has`);
    const shown = read.grouping.length > 0 ? new Set(read.grouping) : available;
    for (const l of legendLabels(q.legendFormat).filter((x) => !shown.has(x))) problems.push(`${q.where}: legend shows {{${l}}}, which the query does not keep`);
  }
  expect(problems).toEqual([]);
});

test('the mesh rows follow the namespace variable: every Envoy metric is selected by the reporting proxy\'s namespace', () => {
  const unfiltered = dashboardQueries(dashboard)
    .filter((q) => !q.where.startsWith('variable'))
    .flatMap((q) => readPromql(q.expr).selectors.filter((s) => s.metric.startsWith('envoy_') && !s.labels.includes('workload_namespace')).map((s) => `${q.where}: ${s.metric}`));
  expect(unfiltered).toEqual([]);
  for (const q of dashboardQueries(dashboard).filter((x) => x.expr.includes('workload_namespace='))) expect(q.expr).toContain('workload_namespace=~"$namespace"');
});

test('it shows what the issue asks: client-side rate, 5xx and latency per service, per source workload, inbound per workload, and the control plane', () => {
  const metrics = new Set(dashboardQueries(dashboard).flatMap((q) => readPromql(q.expr).selectors.map((s) => s.metric)));
  for (const m of [
    'envoy_cluster_upstream_rq', 'envoy_cluster_upstream_rq_time_bucket',
    'trellis_xds_connected_proxies', 'trellis_xds_pushes_total', 'trellis_xds_convergence_seconds_bucket', 'trellis_xds_nacks_total',
    'trellis_ca_requests_total', 'trellis_status_writes_total', 'trellis_process_cpu_seconds_total', 'trellis_process_resident_memory_bytes',
  ]) {
    expect([m, metrics.has(m)]).toEqual([m, true]);
  }
  const exprs = dashboardQueries(dashboard).map((q) => q.expr.replace(/\s+/g, ' '));
  expect(exprs).toEqual(expect.arrayContaining([
    expect.stringMatching(/^histogram_quantile\(0\.99, sum by \(destination_service, le\) \(rate\(envoy_cluster_upstream_rq_time_bucket\{direction="outbound"/),
    expect.stringMatching(/^histogram_quantile\(0\.5, sum by \(destination_service, le\) \(rate\(envoy_cluster_upstream_rq_time_bucket\{direction="outbound"/),
    expect.stringMatching(/^sum by \(workload_namespace, workload, destination_service.*\) \(rate\(envoy_cluster_upstream_rq\{direction="outbound"/),
    expect.stringMatching(/^sum by \(workload_namespace, workload.*\) \(rate\(envoy_cluster_upstream_rq\{direction="inbound"/),
  ]));
});

test('the PromQL reader reads what it must and refuses what it cannot', () => {
  expect(readPromql('histogram_quantile(0.99, sum by (le, a) (rate(m_bucket{x="1", y=~"a,b}"}[$__rate_interval]))) / on (a) group_left sum(n) without (b)')).toEqual({
    selectors: [{ metric: 'm_bucket', labels: ['x', 'y'] }, { metric: 'n', labels: [] }],
    grouping: ['le', 'a', 'b'],
  });
  expect(readPromql('sum(rate(x_total[5m])) by (k) > bool 0.5e1').selectors).toEqual([{ metric: 'x_total', labels: [] }]);
  expect(() => readPromql('rate({__name__="x"}[5m])')).toThrow(/without a metric name/);
  expect(() => readPromql('x offset 5m')).toThrow(/offset/);
  expect(() => readPromql('x{y~"z"}')).toThrow(/label matchers of x/);
  expect(() => readPromql('sum(rate(x[5m])')).toThrow(/unbalanced \(/);
  expect(() => readPromql('sum(x))')).toThrow(/unbalanced \)/);
  expect(legendLabels('{{workload_namespace}}/{{ workload }} → {{destination_service}}')).toEqual(['workload_namespace', 'workload', 'destination_service']);
});
