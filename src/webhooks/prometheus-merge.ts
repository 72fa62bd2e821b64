// Istio's metrics merging, the injector's side: an injected pod is scraped at the agent
// (`prometheus.io/scrape: "true"`, `prometheus.io/port: "15020"`, `prometheus.io/path:
// "/stats/prometheus"`), which answers with Envoy's stats and the app's own metrics. The app's
// own `prometheus.io/*` annotations, if any, are moved into ISTIO_PROMETHEUS_ANNOTATIONS for the
// agent (sidecar/agent, internal/status/metrics.go), so Prometheus, which under STRICT mTLS cannot reach the app
// itself, still gets them. As Istio: any spelling Prometheus reads the same
// (`prometheus.io/scrape`, `prometheus.io.scrape`, `prometheus-io/scrape`) counts and is
// replaced; a pod that says `prometheus.io/scrape: "false"` is left as it is (it asked not to be
// scraped); `prometheus.istio.io/merge-metrics: "false"` (or the trellis.io name) keeps the pod's
// annotations as written; a pod already pointed at the agent is left alone. Pure.
import type { V1Pod } from '@kubernetes/client-node';
import { AGENT_STATUS_PORT, MERGED_METRICS_PATHS, PROMETHEUS_ANNOTATIONS_ENV, type PrometheusScrapeConfig } from '../sidecar/agent-contract.js';
import { CaptureOptionError } from '../sidecar/iptables.js';

export const MERGE_METRICS_ANNOTATIONS = ['prometheus.trellis.io/merge-metrics', 'prometheus.istio.io/merge-metrics'];

/** Prometheus's reading of an annotation name (strutil.SanitizeLabelName). */
const sanitized = (name: string): string => name.replace(/[^a-zA-Z0-9_]/g, '_');
const KEYS = { scrape: 'prometheus_io_scrape', port: 'prometheus_io_port', path: 'prometheus_io_path' } as const;

/** Go's strconv.ParseBool, which Istio applies to these annotations. */
function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

export interface PrometheusMerge {
  /** The pod's annotations after the merge (unchanged when the merge does not apply). */
  annotations: Record<string, string>;
  /** The agent's env: the app's own annotations, when it had any. */
  env: Array<{ name: string; value: string }>;
}

/**
 * The merge for `pod` (`enabled`: the mesh's default, true as in Istio). Throws a
 * CaptureOptionError naming an unusable merge-metrics annotation (injection fails closed).
 */
export function prometheusMerge(pod: V1Pod, enabled = true): PrometheusMerge {
  const annotations = { ...(pod.metadata?.annotations ?? {}) };
  const unchanged = { annotations, env: [] };
  const named = MERGE_METRICS_ANNOTATIONS.find((a) => annotations[a] !== undefined);
  if (named) {
    const v = parseBool(annotations[named]);
    if (v === undefined) throw new CaptureOptionError(`annotation ${named}: "${annotations[named]}" is not true or false`);
    enabled = v;
  }
  if (!enabled) return unchanged;
  const own: PrometheusScrapeConfig = {};
  for (const [name, value] of Object.entries(annotations)) {
    const key = (Object.keys(KEYS) as Array<keyof typeof KEYS>).find((k) => KEYS[k] === sanitized(name));
    if (key) own[key] = value;
  }
  if (own.scrape !== undefined && parseBool(own.scrape) === false) return unchanged;
  if (own.port === String(AGENT_STATUS_PORT)) return unchanged;
  for (const name of Object.keys(annotations)) if ((Object.values(KEYS) as string[]).includes(sanitized(name))) delete annotations[name];
  annotations['prometheus.io/scrape'] = 'true';
  annotations['prometheus.io/port'] = String(AGENT_STATUS_PORT);
  annotations['prometheus.io/path'] = MERGED_METRICS_PATHS[0];
  const hasOwn = own.scrape !== undefined || own.port !== undefined || own.path !== undefined;
  // Istio's format: all three fields, empty when not annotated.
  const env = hasOwn ? [{ name: PROMETHEUS_ANNOTATIONS_ENV, value: JSON.stringify({ scrape: own.scrape ?? '', path: own.path ?? '', port: own.port ?? '' }) }] : [];
  return { annotations, env };
}
