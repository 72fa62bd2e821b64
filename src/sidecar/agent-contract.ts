// What the injector (src/webhooks) and the sidecar agent (src/sidecar/agent, Go) agree on: the
// agent's status port, the environment variables that hand it the app's probes and metrics
// endpoint, and their shapes. The agent reads them in internal/status (probes.go, metrics.go).

/** The agent's status port (Istio's): the app's rewritten probes and the merged metrics. */
export const AGENT_STATUS_PORT = 15020;

/** The injector hands the agent the original probes in this variable, as JSON keyed by path. */
export const APP_PROBERS_ENV = 'ISTIO_KUBE_APP_PROBERS';

/** What the agent performs for one rewritten probe (the original's action, port resolved). */
export interface AppProber {
  httpGet?: { path?: string; port: number; scheme?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number };
  timeoutSeconds?: number;
}

/** The app's prometheus.io/* annotations, handed to the agent (Istio's name and format). */
export const PROMETHEUS_ANNOTATIONS_ENV = 'ISTIO_PROMETHEUS_ANNOTATIONS';

/** The paths Prometheus is pointed at on the status port (Istio serves both). */
export const MERGED_METRICS_PATHS = ['/stats/prometheus', '/metrics'];

/** The annotations as the injector hands them over: as written (strings, maybe empty). */
export interface PrometheusScrapeConfig {
  scrape?: string;
  path?: string;
  port?: string;
}
