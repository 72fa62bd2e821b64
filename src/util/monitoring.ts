import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.js';

/** Thrown by a debug page for a missing thing (answered 404 with its message). */
export class DebugError extends Error {}

export interface MonitoringServer {
  readonly port: number;
  close(): Promise<void>;
}

type DebugPage = (query: URLSearchParams) => unknown | Promise<unknown>;

/**
 * A debug page that answers by itself (HTML, a static asset, a stream of server-sent events),
 * behind the same authorisation as the JSON pages.
 */
export interface RawDebugPage {
  raw: (req: IncomingMessage, res: http.ServerResponse) => void;
}

function isRaw(page: DebugPage | RawDebugPage): page is RawDebugPage {
  return typeof page === 'object' && page !== null && 'raw' in page;
}

async function serveDebug(
  req: IncomingMessage,
  res: http.ServerResponse,
  path: string,
  page: DebugPage | RawDebugPage,
  opts: { log: Logger; authorizeDebug?: (req: IncomingMessage) => Promise<{ allowed: boolean; reason: string }> },
): Promise<void> {
  let decision = { allowed: true, reason: 'open' };
  if (opts.authorizeDebug) {
    try {
      decision = await opts.authorizeDebug(req);
    } catch (err) {
      decision = { allowed: false, reason: `cannot check access: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
  if (!decision.allowed) {
    opts.log.warn('debug page refused', { path, peer: req.socket.remoteAddress, reason: decision.reason });
    const status = req.headers.authorization ? 403 : 401;
    res.writeHead(status, { 'content-type': 'text/plain', ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}) }).end(`${decision.reason}\n`);
    return;
  }
  if (isRaw(page)) {
    page.raw(req, res);
    return;
  }
  try {
    const body = await page(new URL(req.url ?? '/', 'http://x').searchParams);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2) + '\n');
  } catch (err) {
    res.writeHead(err instanceof DebugError ? 404 : 500, { 'content-type': 'text/plain' }).end(`${String((err as Error).message ?? err)}\n`);
  }
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
  debug?: Record<string, DebugPage | RawDebugPage>;
  /**
   * Decides who may read the debug pages (they show every namespace's configuration); without
   * it they are served to anyone (tests only). Refused: 401 without credentials, 403 otherwise.
   */
  authorizeDebug?: (req: IncomingMessage) => Promise<{ allowed: boolean; reason: string }>;
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
      serveDebug(req, res, path, debug, opts).catch((err: unknown) => opts.log.error('debug page failed', { path, error: String(err) }));
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
