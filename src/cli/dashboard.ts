// `trellisctl dashboard`: the mesh page in the user's browser. A local server on loopback
// forwards the page's requests (/debug/mesh and below, nothing else) to the control plane's
// monitoring port, adding the user's bearer token, so the browser needs no credentials of its
// own and a token never reaches the browser. Like `kubectl proxy`, it answers only on loopback,
// and only requests that name it by address (a page of another site cannot reach it through a
// DNS name of its own).
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { addressedByIp } from '../kube/debug-access.js';

export interface DashboardProxy {
  /** The page's local URL. */
  readonly url: string;
  close(): Promise<void>;
}

const PAGE = '/debug/mesh';

/** Serves the control plane's mesh page on 127.0.0.1:`port` (0: any free port). */
export async function startDashboardProxy(opts: { controlPlane: string; token?: string; port?: number }): Promise<DashboardProxy> {
  const base = new URL(opts.controlPlane);
  const client = base.protocol === 'https:' ? https : http;
  const server = http.createServer((req, res) => {
    // Checked as the URL will be sent: "/debug/mesh/../syncz" would otherwise leave the page.
    const target = new URL(req.url ?? '/', base);
    const path = target.pathname;
    // An absolute-form request ("GET http://elsewhere/…") would name its own origin.
    if (!addressedByIp(req.headers.host) || target.origin !== base.origin) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('address this dashboard by 127.0.0.1 or localhost\n');
      return;
    }
    if (path === '/' || path === '') {
      res.writeHead(302, { location: PAGE }).end();
      return;
    }
    if (req.method !== 'GET' || !(path === PAGE || path.startsWith(`${PAGE}/`))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`only ${PAGE} is served here\n`);
      return;
    }
    const upstream = client.request(
      target,
      { method: 'GET', headers: { accept: req.headers.accept ?? '*/*', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, headersOf(up));
        up.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`cannot reach the control plane at ${base.origin}: ${err.message}\n`);
    });
    // The browser left (an event stream closed): so does the request upstream.
    res.on('close', () => upstream.destroy());
    upstream.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${PAGE}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The upstream headers the browser needs (hop-by-hop ones stay behind). */
function headersOf(up: http.IncomingMessage): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !['connection', 'keep-alive', 'transfer-encoding'].includes(k)) out[k] = v;
  return out;
}

/** Opens a URL in the desktop's browser; false if there is no way to (the caller prints the URL). */
export function openBrowser(url: string): Promise<boolean> {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  return new Promise((resolve) => {
    const child = spawn(command, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => resolve(false));
    child.on('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}
