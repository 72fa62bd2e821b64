// trellisctl dashboard's local server: it forwards the mesh page (and only it) to the control
// plane with the user's token, streams the page's events as they come, and answers only
// requests that name it by address.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startDashboardProxy, type DashboardProxy } from '../../src/cli/dashboard.js';

let upstream: http.Server;
let proxy: DashboardProxy;
const seen: Array<{ url: string; authorization: string | undefined }> = [];

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
    if (req.url === '/debug/mesh/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: state\ndata: {"n":1}\n\n');
      setTimeout(() => res.write('event: state\ndata: {"n":2}\n\n'), 50);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html', 'content-security-policy': "default-src 'self'" }).end('<html>mesh</html>');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  proxy = await startDashboardProxy({ controlPlane: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, token: 'secret-token' });
});

afterAll(async () => {
  await proxy.close();
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

function get(path: string, host?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const u = new URL(proxy.url);
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: u.port, path, headers: host ? { host } : {} }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

test('the page is forwarded with the token added upstream, and its headers kept', async () => {
  const r = await get('/debug/mesh');
  expect(r).toMatchObject({ status: 200, body: '<html>mesh</html>' });
  expect(r.headers['content-security-policy']).toBe("default-src 'self'");
  expect(seen.at(-1)).toEqual({ url: '/debug/mesh', authorization: 'Bearer secret-token' });
  expect((await get('/')).headers.location).toBe('/debug/mesh');
});

test('nothing but the mesh page is forwarded: the other debug pages stay behind', async () => {
  const before = seen.length;
  for (const path of ['/debug/config_dump?proxy=x', '/debug/syncz', '/metrics', '/debug/meshy', '/debug/mesh/../syncz', '/debug/mesh/%2e%2e/syncz']) expect((await get(path)).status).toBe(404);
  expect(seen.length).toBe(before);
});

test('a request naming another host (DNS rebinding) is refused', async () => {
  const before = seen.length;
  expect((await get('/debug/mesh', 'rebound.attacker.example')).status).toBe(403);
  expect((await get('http://10.0.0.1:15014/debug/mesh')).status).toBe(403); // absolute form: somewhere else
  expect(seen.length).toBe(before);
});

test('events stream through as they come', async () => {
  const u = new URL(proxy.url);
  const events = await new Promise<string[]>((resolve, reject) => {
    const got: string[] = [];
    const req = http.get({ host: '127.0.0.1', port: u.port, path: '/debug/mesh/events' }, (res) => {
      res.on('data', (c: Buffer) => {
        got.push(...c.toString().split('\n').filter((l) => l.startsWith('data: ')));
        if (got.length === 2) {
          req.destroy();
          resolve(got);
        }
      });
    });
    req.on('error', reject);
  });
  expect(events).toEqual(['data: {"n":1}', 'data: {"n":2}']);
});
