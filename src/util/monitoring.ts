import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.js';

/** Thrown by a debug page for a missing thing (answered 404 with its message). */
export class DebugError extends Error {}

export interface MonitoringServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves /metrics (Prometheus text format) and /ready and /healthz. /ready answers 200 only
 * once `isReady()` is true, so a Deployment's readiness probe holds traffic until the control
 * plane has synced.
 */
export async function startMonitoring(opts: {
  host: string;
  port: number;
  registry: Registry;
  isReady: () => boolean;
  log: Logger;
  /** Debug pages served as JSON under /debug/<name> (e.g. configz: the accepted config). */
  debug?: Record<string, (query: URLSearchParams) => unknown | Promise<unknown>>;
}): Promise<MonitoringServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      opts.registry
        .metrics()
        .then((body) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(body))
        .catch((err: unknown) => {
          opts.log.error('metrics collection failed', { error: String(err) });
          res.writeHead(500).end();
        });
      return;
    }
    if (path === '/ready') {
      const ready = opts.isReady();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
      return;
    }
    const debug = path.startsWith('/debug/') ? opts.debug?.[path.slice('/debug/'.length)] : undefined;
    if (debug) {
      const query = new URL(req.url ?? '/', 'http://x').searchParams;
      Promise.resolve()
        .then(() => debug(query))
        .then((body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2) + '\n'))
        .catch((err: unknown) => res.writeHead(err instanceof DebugError ? 404 : 500, { 'content-type': 'text/plain' }).end(`${String((err as Error).message ?? err)}\n`));
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  opts.log.info('monitoring listening', { address: `${opts.host}:${port}` });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
