// The mesh page's HTTP side over a real socket: its files with a strict content policy, the
// state as JSON, and server-sent events that carry the mesh at once and then only on change;
// nothing is computed while nobody watches.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { MeshPage } from '../../src/dashboard/mesh-page.js';
import { EMPTY_GRAPH } from '../../src/dashboard/mesh-state.js';
import type { MeshView } from '../../src/dashboard/mesh-view.js';
import { loggerFor, setLogLevel } from '../../src/util/logger.js';
import { startMonitoring, type MonitoringServer } from '../../src/util/monitoring.js';

let server: MonitoringServer;
let page: MeshPage;
let view: MeshView;
let built = 0;
const watching: boolean[] = [];

beforeAll(() => setLogLevel('error'));

beforeEach(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mesh-page-'));
  for (const f of ['mesh.html', 'mesh.js', 'mesh.css']) fs.writeFileSync(path.join(dir, f), `/* ${f} */`);
  view = { generatedAt: new Date(0).toISOString(), proxies: [], configs: [], graph: EMPTY_GRAPH };
  built = 0;
  watching.length = 0;
  page = new MeshPage({
    assetsDir: dir,
    intervalMs: 20,
    log: loggerFor('test'),
    view: () => {
      built++;
      return { ...view, generatedAt: new Date().toISOString() };
    },
    watched: (on) => watching.push(on),
  });
  server = await startMonitoring({ host: '127.0.0.1', port: 0, registry: new Registry(), isReady: () => true, log: loggerFor('test'), debug: page.pages() });
});

afterEach(async () => {
  page.close();
  await server.close();
});

const url = (p: string) => `http://127.0.0.1:${server.port}/debug/${p}`;

test('the page and its files are served with a policy that runs nothing but them', async () => {
  for (const [p, type] of [['mesh', 'text/html'], ['mesh/mesh.js', 'text/javascript'], ['mesh/mesh.css', 'text/css']]) {
    const res = await fetch(url(p));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain(type);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  }
  const state = (await (await fetch(url('mesh/state'))).json()) as MeshView;
  expect(state.configs).toEqual([]);
});

/** Opens the event stream and collects its `state` events. */
function watch(): { events: MeshView[]; close: () => void; status: Promise<number> } {
  const events: MeshView[] = [];
  let buf = '';
  let req!: http.ClientRequest;
  const status = new Promise<number>((resolve) => {
    req = http.get(url('mesh/events'), (res) => {
      resolve(res.statusCode ?? 0);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = /^event: state\ndata: (.*)$/s.exec(block)?.[1];
          if (data) events.push(JSON.parse(data) as MeshView);
        }
      });
    });
    req.on('error', () => resolve(0));
  });
  return { events, close: () => req.destroy(), status };
}

const until = async (what: string, cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};

test('a watcher gets the mesh at once, then again only when it changes', async () => {
  expect(built).toBe(0);
  const w = watch();
  expect(await w.status).toBe(200);
  await until('the first event', () => w.events.length === 1);
  expect(watching).toEqual([true]);
  await new Promise((r) => setTimeout(r, 100)); // several intervals, nothing changed
  expect(w.events).toHaveLength(1);
  view = { ...view, configs: [{ kind: 'VirtualService', namespace: 'shop', name: 'reviews', generation: 2, accepted: true, message: '', reached: 3, upToDate: 1, rejected: [] }] };
  await until('the change', () => w.events.length === 2);
  expect(w.events[1].configs[0]).toMatchObject({ name: 'reviews', upToDate: 1, reached: 3 });
  w.close();
  await until('the last watcher gone', () => watching.length === 2);
  expect(watching).toEqual([true, false]);
  const after = built;
  await new Promise((r) => setTimeout(r, 100));
  expect(built).toBe(after); // nobody watches: nothing computed
});

test('at most 32 watchers at once; the 33rd is told to come back later', async () => {
  const ws = Array.from({ length: 32 }, () => watch());
  expect(await Promise.all(ws.map((w) => w.status))).toEqual(ws.map(() => 200));
  const extra = watch();
  expect(await extra.status).toBe(503);
  for (const w of [...ws, extra]) w.close();
});
