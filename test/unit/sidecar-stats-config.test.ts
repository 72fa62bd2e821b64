// The bootstrap's stats configuration: which stats exist, how their names become Prometheus
// labels, the proxy's identity on every stat, Istio's duration buckets. The regexes are run here
// as Envoy runs them (test/support/envoy-stats.ts); the real Envoy runs them in
// test/integration/metrics-envoy.test.ts.
import { bootstrap, DEFAULT_PORTS } from '../../src/sidecar/bootstrap.js';
import { DURATION_BUCKETS_MS, identityTags, noneOf, statsConfig, statsMatcher, statsTags, workloadName } from '../../src/sidecar/stats-config.js';
import { extractTags, keptBy } from '../support/envoy-stats.js';

const ID = { podName: 'productpage-v1-6d5f8c7b9-x2x4z', namespace: 'bookinfo', labels: { app: 'productpage', version: 'v1', 'pod-template-hash': '6d5f8c7b9' } };

const extract = (name: string): ReturnType<typeof extractTags> => extractTags(statsTags(ID), name);
const kept = (name: string): boolean => keptBy(statsMatcher(), name);

const PROXY = { workload: 'productpage-v1', workload_namespace: 'bookinfo', canonical_service: 'productpage', canonical_revision: 'v1' };

test('the bootstrap carries the stats configuration for its pod, without Envoy\'s default tags', () => {
  const b = bootstrap({ kind: 'sidecar', ...ID, podIp: '10.0.0.7', discoveryAddress: 'trellis.trellis-system.svc:15012', clusterDomain: 'cluster.local', adsApi: 'DELTA_GRPC', sdsSocket: '/s', ...DEFAULT_PORTS });
  expect(b.stats_config).toEqual(statsConfig(ID));
  const cfg = b.stats_config as { use_all_default_tags: boolean; stats_tags: { tag_name: string; fixed_value?: string }[] };
  expect(cfg.use_all_default_tags).toBe(false);
  expect(Object.fromEntries(cfg.stats_tags.filter((t) => t.fixed_value !== undefined).map((t) => [t.tag_name, t.fixed_value]))).toEqual(PROXY);
  // Envoy refuses a tag name given twice.
  expect(new Set(cfg.stats_tags.map((t) => t.tag_name)).size).toBe(cfg.stats_tags.length);
});

test("a client-side response: destination service, subset, port and code as labels of envoy_cluster_upstream_rq", () => {
  expect(extract('cluster.outbound|9080|v2|reviews.bookinfo.svc.cluster.local.upstream_rq_503')).toEqual({
    name: 'cluster.upstream_rq',
    tags: { cluster_name: 'outbound|9080|v2|reviews.bookinfo.svc.cluster.local', direction: 'outbound', destination_port: '9080', destination_subset: 'v2', destination_service: 'reviews.bookinfo.svc.cluster.local', response_code: '503', ...PROXY },
  });
  // No subset: no subset label. A ServiceEntry host that reads like a stat name is still whole.
  expect(extract('cluster.outbound|443||ssl.upstream_rq_total.example.com.upstream_rq_total')).toEqual({
    name: 'cluster.upstream_rq_total',
    tags: { cluster_name: 'outbound|443||ssl.upstream_rq_total.example.com', direction: 'outbound', destination_port: '443', destination_service: 'ssl.upstream_rq_total.example.com', ...PROXY },
  });
  expect(extract('cluster.outbound|80||web.default.svc.cluster.local.upstream_rq_time').name).toBe('cluster.upstream_rq_time');
});

test('a class of codes is a metric of its own (upstream_rq_xx), so a sum never counts a request twice', () => {
  expect(extract('cluster.outbound|80||web.default.svc.cluster.local.upstream_rq_5xx')).toMatchObject({ name: 'cluster.upstream_rq_xx', tags: { response_code_class: '5' } });
  expect(extract('cluster.outbound|80||web.default.svc.cluster.local.upstream_rq_5xx').tags.response_code).toBeUndefined();
});

test('a server-side response: the inbound port; the connection manager by its prefix', () => {
  expect(extract('cluster.inbound|8080||.upstream_rq_200')).toEqual({ name: 'cluster.upstream_rq', tags: { cluster_name: 'inbound|8080||', direction: 'inbound', destination_port: '8080', response_code: '200', ...PROXY } });
  expect(extract('http.inbound|8080||.downstream_rq_4xx')).toEqual({ name: 'http.downstream_rq_xx', tags: { http_conn_manager_prefix: 'inbound|8080||', response_code_class: '4', ...PROXY } });
  expect(extract('http.outbound_0.0.0.0_9080.downstream_rq_time')).toEqual({ name: 'http.downstream_rq_time', tags: { http_conn_manager_prefix: 'outbound_0.0.0.0_9080', ...PROXY } });
  expect(extract('cluster.xds-grpc.upstream_cx_total')).toEqual({ name: 'cluster.upstream_cx_total', tags: { cluster_name: 'xds-grpc', ...PROXY } });
});

test("the stats matcher keeps a mesh cluster's useful stats only, and everything outside the mesh's clusters", () => {
  const c = 'cluster.outbound|9080|v1|reviews.bookinfo.svc.cluster.local';
  for (const s of ['upstream_rq_total', 'upstream_rq_200', 'upstream_rq_5xx', 'upstream_rq_time', 'upstream_cx_total', 'ssl.handshake', 'update_success', 'outlier_detection.ejections_enforced_total', 'circuit_breakers.default.rq_open', 'upstream_rq_retry', 'upstream_rq_pending_overflow']) {
    expect([s, kept(`${c}.${s}`)]).toEqual([s, true]);
  }
  expect(kept('cluster.inbound|8080||.upstream_rq_503')).toBe(true);
  // The same responses counted again by origin, and the long tail of per-cluster stats: gone.
  for (const s of ['external.upstream_rq_200', 'external.upstream_rq_time', 'canary.upstream_rq_2xx', 'external.upstream_rq_completed', 'upstream_cx_rx_bytes_buffered', 'lb_healthy_panic', 'upstream_cx_length_ms', 'ssl.ciphers.TLS_AES_128_GCM_SHA256']) {
    expect([s, kept(`${c}.${s}`)]).toEqual([s, false]);
  }
  expect(kept('cluster.inbound|8080||.external.upstream_rq_200')).toBe(false);
  // A host ending in `.internal` (a VM's, say) keeps its codes: Trellis's listeners never mark a
  // request internal, so Envoy writes no copy under `internal.`.
  expect(kept('cluster.outbound|5432||db.vm.internal.upstream_rq_200')).toBe(true);
  expect(extract('cluster.outbound|5432||db.vm.internal.upstream_rq_200').tags).toMatchObject({ destination_service: 'db.vm.internal', response_code: '200' });
  // Only the per-response stats have copies: a host ending in `.external` keeps its others.
  expect(kept('cluster.outbound|443||api.example.external.upstream_rq_total')).toBe(true);
  // Outside the mesh's clusters nothing is dropped (tests and tools read these).
  for (const s of ['cluster.xds-grpc.upstream_cx_total', 'cluster.PassthroughCluster.upstream_rq_total', 'cluster_manager.cds.update_success', 'http.outbound_0.0.0.0_8080.rds.8080.update_success', 'listener.0.0.0.0_15006.downstream_cx_total', 'server.live', 'http.inbound|8080||.rbac.allowed']) {
    expect([s, kept(s)]).toEqual([s, true]);
  }
});

test('noneOf matches any name part but the words', () => {
  const re = new RegExp(`^${noneOf(['canary', 'external', 'internal'])}$`);
  expect(['local', 'com', 'e', 'ext', 'externals', 'canar', 'internally', 'x'].filter((w) => !re.test(w))).toEqual([]);
  expect(['external', 'internal', 'canary', '', 'a.b'].filter((w) => re.test(w))).toEqual([]);
});

test("request durations use Istio's buckets (milliseconds)", () => {
  const cfg = statsConfig(ID) as { histogram_bucket_settings: { match: { safe_regex: { regex: string } }; buckets: number[] }[] };
  expect(cfg.histogram_bucket_settings).toHaveLength(1);
  expect(cfg.histogram_bucket_settings[0].buckets).toEqual(DURATION_BUCKETS_MS);
  expect(DURATION_BUCKETS_MS.slice(0, 3)).toEqual([0.5, 1, 5]);
  const re = new RegExp(cfg.histogram_bucket_settings[0].match.safe_regex.regex);
  expect(['cluster.outbound|80||a.b.svc.cluster.local.upstream_rq_time', 'http.inbound|80||.downstream_rq_time'].every((n) => re.test(n))).toBe(true);
});

test("the proxy's workload as Istio names it, and its canonical service and revision", () => {
  expect(workloadName('reviews-v1-5d8f9c7b4-abcde', { 'pod-template-hash': '5d8f9c7b4' })).toBe('reviews-v1');
  expect(workloadName('db-2', { 'statefulset.kubernetes.io/pod-name': 'db-2' })).toBe('db');
  expect(workloadName('migrate-x7k2p', { 'job-name': 'migrate' })).toBe('migrate');
  expect(workloadName('standalone', {})).toBe('standalone');
  expect(identityTags({ podName: 'p', namespace: 'n', labels: {} })).toEqual({ workload: 'p', workload_namespace: 'n', canonical_service: 'p', canonical_revision: 'latest' });
  expect(identityTags({ podName: 'p', namespace: 'n', labels: { app: 'a', version: 'v', 'service.istio.io/canonical-name': 'cn', 'service.istio.io/canonical-revision': 'cr' } })).toMatchObject({ canonical_service: 'cn', canonical_revision: 'cr' });
  expect(identityTags({ podName: 'p', namespace: 'n', labels: { 'app.kubernetes.io/name': 'k8s-name', app: 'a', 'app.kubernetes.io/version': '1.2' } })).toMatchObject({ canonical_service: 'k8s-name', canonical_revision: '1.2' });
});
