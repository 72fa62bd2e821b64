// The mesh page on the monitoring port, behind the debug pages' authorisation: the page and its
// two assets (web/, served by Trellis itself: the page works with no internet access), the
// current MeshView as JSON, and a stream of server-sent events that sends the MeshView when it
// changes (checked once a second while someone watches; nothing is computed while nobody does).
import fs from 'node:fs';
import type http from 'node:http';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../util/logger.js';
import type { RawDebugPage } from '../util/monitoring.js';
import type { MeshView } from './mesh-view.js';

/** The page's files, by the name under /debug/mesh/ (the page itself is "" ). */
const ASSETS: Record<string, { file: string; type: string }> = {
  '': { file: 'mesh.html', type: 'text/html; charset=utf-8' },
  'mesh.js': { file: 'mesh.js', type: 'text/javascript; charset=utf-8' },
  'mesh.css': { file: 'mesh.css', type: 'text/css; charset=utf-8' },
};

/** Served with every answer: nothing but Trellis's own files runs, and the page is never framed. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** Event streams open at once; more are refused (each costs a JSON encoding per change). */
const MAX_WATCHERS = 32;
const HEARTBEAT_MS = 15_000;

/** web/ from the running file: dist/src/dashboard in a build and an image, src/dashboard in tests. */
export function findAssetsDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'web');
    if (fs.existsSync(path.join(candidate, 'mesh.html'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(`the mesh page's files (web/mesh.html) are not beside ${fileURLToPath(import.meta.url)}`);
}

export interface MeshPageOptions {
  /** The mesh as of now. */
  view: () => MeshView;
  /** Told when the first watcher comes and the last goes (the graph is read only while watched). */
  watched?: (on: boolean) => void;
  assetsDir?: string;
  intervalMs?: number;
  log: Logger;
}

export class MeshPage {
  private readonly assets = new Map<string, { body: Buffer; type: string }>();
  private readonly watchers = new Set<http.ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private last = '';

  constructor(private readonly opts: MeshPageOptions) {
    // A build without the page's files serves everything but the page (the control plane runs on).
    try {
      const dir = opts.assetsDir ?? findAssetsDir();
      for (const [name, a] of Object.entries(ASSETS)) this.assets.set(name, { body: fs.readFileSync(path.join(dir, a.file)), type: a.type });
    } catch (err) {
      this.assets.clear();
      opts.log.error('the mesh page is not served: its files cannot be read', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  /** The debug pages to register: mesh, mesh/<asset>, mesh/state, mesh/events. */
  pages(): Record<string, RawDebugPage> {
    const out: Record<string, RawDebugPage> = {};
    for (const name of Object.keys(ASSETS)) out[name ? `mesh/${name}` : 'mesh'] = { raw: (_req, res) => this.asset(name, res) };
    // The page's URLs are relative to /debug/mesh: with a trailing slash they would miss.
    out['mesh/'] = { raw: (_req, res) => void res.writeHead(302, { location: '../mesh' }).end() };
    out['mesh/state'] = { raw: (_req, res) => this.state(res) };
    out['mesh/events'] = { raw: (req, res) => this.watch(req, res) };
    return out;
  }

  close(): void {
    for (const res of this.watchers) res.end();
    this.watchers.clear();
    this.stopTimers();
  }

  private asset(name: string, res: http.ServerResponse): void {
    const a = this.assets.get(name);
    if (!a) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`this build of Trellis lacks the mesh page's files (web/${ASSETS[name].file}); the control plane's log says where it looked\n`);
      return;
    }
    res.writeHead(200, { 'content-type': a.type, ...SECURITY_HEADERS }).end(a.body);
  }

  private state(res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json', ...SECURITY_HEADERS }).end(JSON.stringify(this.opts.view()));
  }

  private watch(req: IncomingMessage, res: http.ServerResponse): void {
    if (this.watchers.size >= MAX_WATCHERS) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '10' }).end(`at most ${MAX_WATCHERS} mesh pages may watch at once\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', connection: 'keep-alive', ...SECURITY_HEADERS });
    // A client that waits on nothing must not hold a socket forever behind a proxy: no timeout here.
    req.socket.setTimeout(0);
    this.watchers.add(res);
    const gone = (): void => {
      if (!this.watchers.delete(res)) return;
      if (this.watchers.size === 0) {
        this.stopTimers();
        this.opts.watched?.(false);
      }
    };
    res.on('close', gone);
    res.on('error', gone);
    if (this.watchers.size === 1) {
      this.opts.watched?.(true);
      this.timer = setInterval(() => this.broadcast(), this.opts.intervalMs ?? 1000);
      this.heartbeat = setInterval(() => this.watchers.forEach((w) => w.write(': keep-alive\n\n')), HEARTBEAT_MS);
    }
    // The newcomer gets the mesh at once; the others only when it changes.
    const body = this.current();
    if (this.watchers.size === 1) this.last = shownOf(body);
    this.send(res, body);
  }

  private current(): string {
    try {
      return JSON.stringify(this.opts.view());
    } catch (err) {
      this.opts.log.error('cannot build the mesh page state', { error: err instanceof Error ? err.message : String(err) });
      return this.last;
    }
  }

  private broadcast(): void {
    const body = this.current();
    const shown = shownOf(body);
    if (shown === this.last) return;
    this.last = shown;
    for (const w of this.watchers) this.send(w, body);
  }

  private send(res: http.ServerResponse, body: string): void {
    if (body) res.write(`event: state\ndata: ${body}\n\n`);
  }

  private stopTimers(): void {
    clearInterval(this.timer);
    clearInterval(this.heartbeat);
    this.timer = undefined;
    this.heartbeat = undefined;
  }
}

/** generatedAt changes every time: what is shown is compared, not when. */
function shownOf(body: string): string {
  return body.replace(/^\{"generatedAt":"[^"]*",/, '{');
}
