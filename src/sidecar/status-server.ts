// The agent's status port, 15020 (Istio's): the kubelet's rewritten app probes
// (`/app-health/...`, app-probes.ts) and Prometheus's scrape of the pod (`/stats/prometheus`,
// `/metrics`: Envoy's stats merged with the app's, metrics-merge.ts). iptables never captures
// this port, so neither STRICT mTLS nor an AuthorizationPolicy stands between them and the agent.
import http from 'node:http';
import type { Logger } from '../util/logger.js';
import { answerAppProbe, type AppProber } from './app-probes.js';
import { MERGED_METRICS_PATHS, serveMergedMetrics, type MergeSources } from './metrics-merge.js';

export function statusServer(probers: ReadonlyMap<string, AppProber>, metrics: MergeSources, log: Logger): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (MERGED_METRICS_PATHS.includes(path) && req.method === 'GET') {
      serveMergedMetrics(req, res, metrics, log).catch((err: unknown) => {
        log.error('cannot answer a metrics scrape', { error: err instanceof Error ? err.message : String(err) });
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    answerAppProbe(probers, req, res, log);
  });
}
