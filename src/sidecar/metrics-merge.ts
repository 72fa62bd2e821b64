// Istio's metrics merging, the agent's side: Prometheus scrapes one endpoint per pod, the agent's
// `/stats/prometheus` (and `/metrics`) on 15020, named by the `prometheus.io/*` annotations the
// injector puts on the pod (webhooks/prometheus-merge.ts). The answer is Envoy's stats (from its
// Prometheus listener, 15090) followed by the app's own metrics, where the pod had annotated them
// (handed over in ISTIO_PROMETHEUS_ANNOTATIONS, Istio's name and format). A failing source is
// logged and left out, never the whole answer: an app that is down still leaves the proxy's
// metrics scrapeable. The app is reached on loopback, as the proxy's user, whom iptables never
// captures (so STRICT mTLS never refuses it).
import http from 'node:http';
import type { Logger } from '../util/logger.js';

export const PROMETHEUS_ANNOTATIONS_ENV = 'ISTIO_PROMETHEUS_ANNOTATIONS';
/** The paths Prometheus is pointed at (Istio serves both). */
export const MERGED_METRICS_PATHS = ['/stats/prometheus', '/metrics'];

/** What the injector hands over: the app's own annotations, as written (strings, maybe empty). */
export interface PrometheusScrapeConfig {
  scrape?: string;
  path?: string;
  port?: string;
}

/** Where the app's metrics are, with Istio's defaults (path /metrics, port 80). */
export interface AppMetrics {
  port: number;
  path: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const OPENMETRICS = 'application/openmetrics-text';
const TEXT_FORMAT = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * ISTIO_PROMETHEUS_ANNOTATIONS → the app's metrics endpoint; undefined when none is to be merged
 * (no variable, `scrape: "false"`), or when the value cannot be used (logged): a port that is not
 * a port, or the agent's own (which would scrape itself forever).
 */
export function parsePrometheusAnnotations(text: string | undefined, agentPort: number, log: Logger): AppMetrics | undefined {
  if (!text) return undefined;
  let cfg: PrometheusScrapeConfig;
  try {
    cfg = JSON.parse(text) as PrometheusScrapeConfig;
  } catch (err) {
    log.error(`${PROMETHEUS_ANNOTATIONS_ENV} is not JSON; the app's metrics are not merged`, { error: (err as Error).message });
    return undefined;
  }
  if (cfg.scrape === 'false') return undefined;
  const port = Number(cfg.port || '80');
  if (!Number.isInteger(port) || port < 1 || port > 65535 || port === agentPort) {
    log.error(`${PROMETHEUS_ANNOTATIONS_ENV}: port ${JSON.stringify(cfg.port)} cannot be the app's metrics port; the app's metrics are not merged`);
    return undefined;
  }
  const path = cfg.path || '/metrics';
  return { port, path: path.startsWith('/') ? path : `/${path}` };
}

interface Scraped {
  body: Buffer;
  contentType: string;
}

/** Prometheus's own headers pass through, so a source answers as it would have answered Prometheus. */
const FORWARDED = ['accept', 'user-agent', 'x-prometheus-scrape-timeout-seconds'];

function scrape(url: URL, incoming: http.IncomingHttpHeaders, timeoutMs: number): Promise<Scraped> {
  const headers = Object.fromEntries(FORWARDED.filter((h) => typeof incoming[h] === 'string').map((h) => [h, incoming[h] as string]));
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${url.href}: HTTP ${res.statusCode}`));
        else resolve({ body: Buffer.concat(chunks), contentType: res.headers['content-type'] ?? '' });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${url.href}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

function timeoutOf(headers: http.IncomingHttpHeaders): number {
  const s = Number(headers['x-prometheus-scrape-timeout-seconds']);
  return Number.isFinite(s) && s > 0 ? s * 1000 : DEFAULT_TIMEOUT_MS;
}

export interface MergeSources {
  /** Envoy's Prometheus stats, e.g. http://127.0.0.1:15090/stats/prometheus. */
  envoyUrl: string;
  app?: AppMetrics;
}

/**
 * Answers a scrape: Envoy's stats, then the app's (last, since OpenMetrics ends with `# EOF`), in
 * the app's format when it speaks OpenMetrics, else Prometheus text. Always 200, as Istio's
 * agent: a missing source is absent from the answer, and logged.
 */
export async function serveMergedMetrics(req: http.IncomingMessage, res: http.ServerResponse, sources: MergeSources, log: Logger): Promise<void> {
  const timeoutMs = timeoutOf(req.headers);
  const [envoy, app] = await Promise.allSettled([
    scrape(new URL(sources.envoyUrl), req.headers, timeoutMs),
    sources.app ? scrape(new URL(`http://127.0.0.1:${sources.app.port}${sources.app.path}`), req.headers, timeoutMs) : Promise.resolve(undefined),
  ]);
  if (envoy.status === 'rejected') log.warn("cannot scrape Envoy's metrics", { error: String((envoy.reason as Error).message) });
  if (app.status === 'rejected') log.warn("cannot scrape the app's metrics", { error: String((app.reason as Error).message) });
  const appScraped = app.status === 'fulfilled' ? app.value : undefined;
  const openMetrics = appScraped?.contentType.split(';')[0].trim() === OPENMETRICS;
  const parts = [envoy.status === 'fulfilled' ? envoy.value.body : undefined, appScraped?.body].filter((b): b is Buffer => b !== undefined && b.length > 0);
  // Each part ends its last line, so the next starts on a line of its own.
  const body = Buffer.concat(parts.flatMap((b) => (b[b.length - 1] === 0x0a ? [b] : [b, Buffer.from('\n')])));
  res.writeHead(200, { 'content-type': openMetrics ? appScraped!.contentType : TEXT_FORMAT }).end(body);
}
