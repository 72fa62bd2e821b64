// Envoy's stats configuration in the bootstrap: what a dashboard needs from upstream Envoy's own
// statistics, with no stats filter and no custom build. Istio's `istio_requests_total` comes from
// its stats extension; here the same questions are answered by Envoy's standard cluster stats
// (`cluster.<name>.upstream_rq_<code>`, `upstream_rq_time`), whose names Trellis controls
// (`outbound|<port>|<subset>|<host>`, `inbound|<port>||`): tag extractors (`stats_tags`) turn
// the parts of those names into Prometheus labels (destination_service, destination_subset,
// destination_port, response_code), fixed tags put the reporting proxy's own identity on every
// stat, the histogram buckets are Istio's, and a stats matcher keeps only the useful stats of
// the mesh's clusters, so a proxy that sees many services does not grow thousands of series.
// Pure. The metric names and a PromQL guide are in README.md ("Metrics").

/** Who the proxy is, for the fixed tags. */
export interface StatsIdentity {
  podName: string;
  namespace: string;
  labels: Record<string, string>;
}

/** Istio's request duration buckets (milliseconds), so dashboards built for Istio read the same. */
export const DURATION_BUCKETS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

/**
 * The stats a mesh cluster (`outbound|…`, `inbound|…`) keeps, as regexes of the part after the
 * cluster name. The tag extractors below find the end of a cluster name (which holds dots, as a
 * host does) by these same lists, so the two cannot disagree. DYNAMIC_STATS are the router's
 * per-response ones, which Envoy also writes a second time under `external.` or `internal.` (by
 * the request's origin) and `canary.`.
 */
const DYNAMIC_STATS = 'upstream_rq_(?:\\d{3}|\\dxx|time|completed)';
const OTHER_STATS = [
  'upstream_rq_(?:total|active|pending_active|pending_overflow|timeout|per_try_timeout|retry|retry_success|retry_overflow|rx_reset|tx_reset)',
  'upstream_cx_(?:total|active|connect_fail|connect_timeout|destroy|destroy_local|destroy_remote|rx_bytes_total|tx_bytes_total|none_healthy)',
  'ssl\\.(?:handshake|connection_error|no_certificate|session_reused|fail_verify_[a-z_]+)',
  'outlier_detection\\.[a-z_]+',
  'circuit_breakers\\.[a-z]+\\.[a-z_]+',
  'update_[a-z_]+',
  'membership_[a-z_]+',
].join('|');
const MESH_CLUSTER_STATS = `${DYNAMIC_STATS}|${OTHER_STATS}`;

const MESH_CLUSTER = '(?:outbound|inbound)\\|[^|]*\\|[^|]*\\|';

/**
 * RE2 for one non-empty, dot-free name part that is none of `words` (RE2 has no negative
 * lookahead): a trie of the words, where leaving it anywhere, or ending before a word does, matches.
 */
export function noneOf(words: readonly string[]): string {
  const node = (rest: readonly string[], mayEnd: boolean): string => {
    const firsts = [...new Set(rest.filter((w) => w.length > 0).map((w) => w[0]))].sort();
    const alts = [`[^.${firsts.join('')}][^.]*`, ...firsts.map((c) => c + node(rest.filter((w) => w[0] === c).map((w) => w.slice(1)), true))];
    if (mayEnd && !rest.includes('')) alts.push('');
    return `(?:${alts.join('|')})`;
  };
  return node(words, false);
}

/**
 * The copies by origin would double every sum by destination: a dynamic stat is kept when the
 * host's last part is not `external` or `canary` (or the host is empty, as an inbound cluster's).
 * `internal` stays a possible host ending (`db.vm.internal` is common; the copy under
 * `internal.` needs a request marked `x-envoy-internal`, which Trellis's listeners never mark).
 */
const DYNAMIC_HOST_END = `(?:(?:.*\\.)?${noneOf(['canary', 'external'])})?`;

/**
 * Which stats exist at all (RE2): everything outside the mesh's clusters (server, listeners,
 * connection managers, the control plane's and the agent's clusters: bounded by the proxy's own
 * ports), and of each mesh cluster only MESH_CLUSTER_STATS.
 */
export function statsMatcher(): Record<string, unknown> {
  return {
    inclusion_list: {
      patterns: [
        // Not a cluster stat: no `cluster.` at the start (cluster_manager.* is kept too).
        { safe_regex: { regex: '^(?:[^c]|c[^l]|cl[^u]|clu[^s]|clus[^t]|clust[^e]|cluste[^r]|cluster[^.]).*' } },
        // A cluster whose name has no `|` (xds-grpc, sds-grpc, PassthroughCluster, BlackHoleCluster, …).
        { safe_regex: { regex: '^cluster\\.[^|]*\\..*' } },
        { safe_regex: { regex: `^cluster\\.${MESH_CLUSTER}.*\\.(?:${OTHER_STATS})$` } },
        { safe_regex: { regex: `^cluster\\.${MESH_CLUSTER}${DYNAMIC_HOST_END}\\.(?:${DYNAMIC_STATS})$` } },
      ],
    },
  };
}

/**
 * The tag extractors (std::regex, as Envoy runs them: the first group is cut from the name, the
 * second, when there is one, is the value). All run on the full name; what they cut is merged,
 * so `cluster.outbound|80|v1|reviews.default.svc.cluster.local.upstream_rq_503` becomes
 * `envoy_cluster_upstream_rq{cluster_name, direction, destination_port, destination_subset,
 * destination_service, response_code}`.
 */
export function statsTags(identity: StatsIdentity): Array<Record<string, string>> {
  const end = `(?=\\.(?:${MESH_CLUSTER_STATS})$)`;
  return [
    // The whole cluster name (Istio's label for Envoy's cluster stats): a mesh cluster's up to a
    // kept stat, any other cluster's up to its first dot.
    { tag_name: 'cluster_name', regex: `^cluster\\.(((?:outbound|inbound)\\|[^|]*\\|[^|]*\\|.*?${end}|[^.|]+)\\.)` },
    // Client side (outbound: this proxy is the source) or server side (inbound: the destination).
    { tag_name: 'direction', regex: '^cluster\\.((outbound|inbound)\\|)' },
    { tag_name: 'destination_port', regex: '^cluster\\.(?:outbound|inbound)\\|((\\d+)\\|)' },
    { tag_name: 'destination_subset', regex: '^cluster\\.(?:outbound|inbound)\\|\\d*\\|(([^|]+)\\|)' },
    { tag_name: 'destination_service', regex: `^cluster\\.outbound\\|[^|]*\\|[^|]*\\|((.+?)${end}\\.)` },
    // *_rq_503 → *_rq{response_code="503"}; *_rq_5xx → *_rq_xx{response_code_class="5"} (a
    // separate metric, so summing one never counts a request twice).
    { tag_name: 'response_code', regex: '_rq(_(\\d{3}))$' },
    { tag_name: 'response_code_class', regex: '_rq_((\\d))xx$' },
    // Connection managers: outbound `outbound_0.0.0.0_<port>` (dots), inbound `inbound|<port>||`,
    // also under `listener.<address>.http.`.
    { tag_name: 'http_conn_manager_prefix', regex: '^(?:listener\\..*?\\.)?http\\.((outbound_[0-9a-fA-F.:\\[\\]]+_\\d+|[^.]+)\\.)' },
    { tag_name: 'listener_address', regex: '^listener\\.(((?:[_.[:digit:]]*|[_\\[\\]aAbBcCdDeEfF[:digit:]]*))\\.)' },
    ...Object.entries(identityTags(identity)).map(([tag_name, fixed_value]) => ({ tag_name, fixed_value })),
  ];
}

/**
 * The reporting proxy's workload, as Istio names it: the Deployment of a ReplicaSet's pod (the
 * pod name less `-<pod-template-hash>-<random>`), a StatefulSet's (less `-<ordinal>`), a Job's,
 * else the pod.
 */
export function workloadName(podName: string, labels: Record<string, string>): string {
  const hash = labels['pod-template-hash'];
  if (hash) {
    const i = podName.lastIndexOf(`-${hash}-`);
    if (i > 0) return podName.slice(0, i);
  }
  if (labels['statefulset.kubernetes.io/pod-name'] === podName) return podName.replace(/-\d+$/, '');
  if (labels['job-name']) return labels['job-name'];
  return podName;
}

/**
 * Fixed tags on every stat: the proxy's own workload. Named without Istio's `source_`/
 * `destination_` prefix because the same proxy is the source of its outbound stats and the
 * destination of its inbound ones (the `direction` tag says which).
 */
export function identityTags(i: StatsIdentity): Record<string, string> {
  const l = i.labels;
  const workload = workloadName(i.podName, l);
  return {
    workload,
    workload_namespace: i.namespace,
    canonical_service: l['service.istio.io/canonical-name'] ?? l['app.kubernetes.io/name'] ?? l.app ?? workload,
    canonical_revision: l['service.istio.io/canonical-revision'] ?? l['app.kubernetes.io/version'] ?? l.version ?? 'latest',
  };
}

/** The bootstrap's `stats_config`. */
export function statsConfig(identity: StatsIdentity): Record<string, unknown> {
  return {
    // Envoy's defaults cut a dotted cluster name at its first dot; the extractors above replace them.
    use_all_default_tags: false,
    stats_tags: statsTags(identity),
    stats_matcher: statsMatcher(),
    histogram_bucket_settings: [{ match: { safe_regex: { regex: '.*_rq_time$' } }, buckets: DURATION_BUCKETS_MS }],
  };
}
