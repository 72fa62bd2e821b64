// Reads the proxies' statistics for the mesh page's service graph (traffic-graph.ts): GET
// `http://<pod IP>:15090/stats/prometheus` (the bootstrap's Prometheus listener, in front of
// Envoy's admin) with only the series the graph reads, a few at a time, each bounded in time and
// size. The I/O edge of the graph; what it returns is text or why there is none, per proxy.
//
// Security: the caller passes only addresses that the Kubernetes API gives for the proxy's own
// pod (the pod's status.podIP(s), of the pod the proxy's xDS identity was checked against), never
// anything the proxy says about itself (node id, INSTANCE_IPS or other node metadata). A proxy
// chooses its metadata freely, so taking an address from it would let any workload make the
// control plane, from inside the cluster network and with its network position, send requests
// to any address: the API server, a cloud metadata endpoint, another namespace's services.
// Even so this module takes literal IP addresses only (no DNS), always the same port and path,
// follows no redirect, and stops reading at a size cap and a deadline.
import http from 'node:http';
import net from 'node:net';
import { loggerFor, type Logger } from '../util/logger.js';

export interface ScrapeTarget {
  proxyId: string;
  /** The proxy's pod IP, from the Kubernetes API (see above). */
  ip: string;
}

/** Per proxy: the stats text and when its answer came (ms since the epoch), or why there is none. */
export type ScrapeResult = { proxyId: string; at: number; text: string } | { proxyId: string; at: number; error: string };

export interface ScrapeOptions {
  /** Envoy's Prometheus listener (15090). */
  port?: number;
  /** For the whole exchange, connection to last byte (2 s). */
  timeoutMs?: number;
  /** A larger answer is abandoned (4 MiB). */
  maxBytes?: number;
  /** Scrapes in flight at once (8). */
  concurrency?: number;
  log?: Logger;
}

export const STATS_PORT = 15090;

/**
 * Envoy's `filter` (RE2, unanchored) for what traffic-graph.ts reads. Envoy matches it against a
 * stat's own name (`cluster.outbound|80||reviews.default.svc.cluster.local.upstream_rq_503`,
 * `cluster.<name>.upstream_rq_time`), before tag extraction, not against the Prometheus name and
 * labels it prints (`envoy_cluster_upstream_rq{…}`), as checked against Envoy 1.36: a filter on
 * `envoy_cluster` matches nothing. An invalid RE2 answers 400 "Invalid re2 regex".
 * Kept: each mesh cluster's per-code request counters and duration histogram, and the server's
 * uptime (restart detection). With `usedonly`, only stats written since Envoy started.
 */
export const MESH_STATS_FILTER = '^cluster\\.(?:outbound|inbound)\\|[^|]*\\|[^|]*\\|.*\\.upstream_rq_(?:\\d{3}|time)$|^server\\.uptime$';

export const STATS_PATH = `/stats/prometheus?usedonly&filter=${encodeURIComponent(MESH_STATS_FILTER)}`;

const DEFAULTS = { port: STATS_PORT, timeoutMs: 2000, maxBytes: 4 * 1024 * 1024, concurrency: 8 };

/** Scrapes every target, at most `concurrency` at once; results in the targets' order. */
export async function scrapeStats(targets: readonly ScrapeTarget[], opts: ScrapeOptions = {}): Promise<ScrapeResult[]> {
  const o = { ...DEFAULTS, ...opts };
  const log = opts.log ?? loggerFor('dashboard');
  const results: ScrapeResult[] = new Array<ScrapeResult>(targets.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < targets.length) {
      const i = next++;
      const t = targets[i];
      results[i] = await scrapeOne(t, o);
      const r = results[i];
      if ('error' in r) log.debug('cannot read proxy stats', { proxy: t.proxyId, ip: t.ip, error: r.error });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, targets.length)) }, worker));
  return results;
}

function scrapeOne(t: ScrapeTarget, o: typeof DEFAULTS): Promise<ScrapeResult> {
  const failed = (error: string): ScrapeResult => ({ proxyId: t.proxyId, at: Date.now(), error });
  if (net.isIP(t.ip) === 0) return Promise.resolve(failed(`"${t.ip}" is not an IP address`));
  return new Promise((resolve) => {
    let settled = false;
    const timer = setTimeout(() => {
      settle(failed(`no complete answer within ${o.timeoutMs} ms`));
      req.destroy();
    }, o.timeoutMs);
    const settle = (r: ScrapeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    // http.request follows no redirect, and with agent: false keeps no connection to a proxy.
    const req = http.request({ host: t.ip, port: o.port, path: STATS_PATH, method: 'GET', agent: false, headers: { accept: 'text/plain', 'user-agent': 'trellis-mesh-graph' } }, (res) => {
      const at = Date.now();
      const fail = (error: string): void => {
        settle(failed(error));
        req.destroy();
      };
      if (res.statusCode !== 200) {
        const redirect = res.statusCode && res.statusCode >= 300 && res.statusCode < 400 ? ' (redirects are not followed)' : '';
        return fail(`HTTP ${res.statusCode ?? '?'}${redirect}`);
      }
      if (Number(res.headers['content-length']) > o.maxBytes) return fail(`answer larger than ${o.maxBytes} bytes`);
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > o.maxBytes) return fail(`answer larger than ${o.maxBytes} bytes`);
        chunks.push(c);
      });
      res.on('end', () => settle({ proxyId: t.proxyId, at, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => fail(err.message));
      res.on('close', () => {
        if (!res.complete) fail('answer cut short');
      });
    });
    req.on('error', (err) => settle(failed(err.message)));
    req.end();
  });
}
