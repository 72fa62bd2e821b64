// Reading the proxies' stats for the service graph, against HTTP servers on loopback standing in
// for Envoy's Prometheus listener: the filtered path, only literal IP addresses, no redirect
// followed, a size cap and a deadline for the whole answer, and a bounded number in flight.
import http from 'node:http';
import type net from 'node:net';
import { MESH_STATS_FILTER, scrapeStats, STATS_PATH } from '../../src/dashboard/stats-scraper.js';

const servers: http.Server[] = [];
async function serve(handler: http.RequestListener): Promise<number> {
  const s = http.createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

test("asks Envoy for the graph's series only (usedonly, filter) and returns each proxy's text in the targets' order", async () => {
  const urls: string[] = [];
  const port = await serve((req, res) => {
    urls.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`up{proxy="${urls.length}"} 1\n`);
  });
  const before = Date.now();
  const results = await scrapeStats([{ proxyId: 'a', ip: '127.0.0.1' }, { proxyId: 'b', ip: '127.0.0.1' }], { port });
  expect(results.map((r) => r.proxyId)).toEqual(['a', 'b']);
  for (const r of results) {
    expect('text' in r && r.text).toMatch(/^up\{proxy="\d"\} 1\n$/);
    expect(r.at).toBeGreaterThanOrEqual(before);
  }
  const url = new URL(urls[0], 'http://x');
  expect(url.pathname).toBe('/stats/prometheus');
  expect(url.searchParams.has('usedonly')).toBe(true);
  expect(url.searchParams.get('filter')).toBe(MESH_STATS_FILTER);
  expect(urls[0]).toBe(STATS_PATH);
});

test('the filter keeps the mesh clusters\' request counters, duration histogram and uptime, by their Envoy names', () => {
  const re = new RegExp(MESH_STATS_FILTER);
  for (const kept of ['cluster.outbound|9080|v1|reviews.default.svc.cluster.local.upstream_rq_503', 'cluster.outbound|80||reviews.default.svc.cluster.local.upstream_rq_time', 'cluster.inbound|9080||.upstream_rq_200', 'server.uptime']) expect(kept).toMatch(re);
  for (const dropped of [
    'cluster.outbound|80||reviews.default.svc.cluster.local.upstream_rq_total',
    'cluster.outbound|80||reviews.default.svc.cluster.local.upstream_rq_5xx',
    'cluster.outbound|80||reviews.default.svc.cluster.local.upstream_rq_timeout',
    'cluster.xds-grpc.upstream_rq_200',
    'http.inbound|9080||.downstream_rq_2xx',
    'envoy_cluster_upstream_rq',
  ]) expect(dropped).not.toMatch(re);
});

test('a target that is not a literal IP address is refused without a request (no DNS)', async () => {
  let requests = 0;
  const port = await serve((_req, res) => void (requests++, res.end('x 1\n')));
  const results = await scrapeStats(['localhost', '127.0.0.1:80', 'http://127.0.0.1', '127.0.0.1/x', ''].map((ip) => ({ proxyId: ip, ip })), { port });
  for (const r of results) expect('error' in r && r.error).toMatch(/is not an IP address/);
  expect(requests).toBe(0);
});

test('a redirect is not followed', async () => {
  let elsewhere = 0;
  const other = await serve((_req, res) => void (elsewhere++, res.end('x 1\n')));
  const port = await serve((_req, res) => void res.writeHead(302, { location: `http://127.0.0.1:${other}/stats/prometheus` }).end());
  const [r] = await scrapeStats([{ proxyId: 'p', ip: '127.0.0.1' }], { port });
  expect('error' in r && r.error).toBe('HTTP 302 (redirects are not followed)');
  expect(elsewhere).toBe(0);
});

test('an answer past the size cap is abandoned, announced or streamed', async () => {
  const big = Buffer.alloc(4 * 1024 * 1024 + 1, 'a');
  const announced = await serve((_req, res) => void res.writeHead(200, { 'content-length': big.length }).end(big));
  const streamed = await serve((_req, res) => {
    res.writeHead(200);
    // Chunked, no length: the cap is counted as it arrives.
    const chunk = Buffer.alloc(64 * 1024, 'b');
    let sent = 0;
    const more = (): void => {
      while (sent < big.length + chunk.length && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      res.end();
    };
    more();
  });
  const [a] = await scrapeStats([{ proxyId: 'a', ip: '127.0.0.1' }], { port: announced });
  const [s] = await scrapeStats([{ proxyId: 's', ip: '127.0.0.1' }], { port: streamed });
  expect('error' in a && a.error).toBe('answer larger than 4194304 bytes');
  expect('error' in s && s.error).toBe('answer larger than 4194304 bytes');
  // Exactly at the cap is fine.
  const [ok] = await scrapeStats([{ proxyId: 'ok', ip: '127.0.0.1' }], { port: await serve((_req, res) => void res.end(Buffer.alloc(1024, 'c'))), maxBytes: 1024 });
  expect('text' in ok && ok.text.length).toBe(1024);
});

test('the deadline covers the whole answer: no headers, or a body that never ends', async () => {
  const silent = await serve(() => undefined);
  const dripping = await serve((_req, res) => {
    res.writeHead(200);
    const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write('x')), 50);
    res.on('close', () => clearInterval(t));
  });
  const start = Date.now();
  const [a, b] = await Promise.all([scrapeStats([{ proxyId: 'a', ip: '127.0.0.1' }], { port: silent, timeoutMs: 300 }), scrapeStats([{ proxyId: 'b', ip: '127.0.0.1' }], { port: dripping, timeoutMs: 300 })]);
  expect('error' in a[0] && a[0].error).toBe('no complete answer within 300 ms');
  expect('error' in b[0] && b[0].error).toBe('no complete answer within 300 ms');
  expect(Date.now() - start).toBeLessThan(2000);
});

test('a proxy that is down is an error, the others are still read', async () => {
  const port = await serve((_req, res) => void res.end('x 1\n'));
  const closed = await serve(() => undefined);
  await new Promise((r) => servers.pop()!.close(r));
  const [up] = await scrapeStats([{ proxyId: 'up', ip: '127.0.0.1' }], { port });
  const [down] = await scrapeStats([{ proxyId: 'down', ip: '127.0.0.1' }], { port: closed });
  expect('text' in up && up.text).toBe('x 1\n');
  expect('error' in down && down.error).toMatch(/ECONNREFUSED/);
});

test('at most `concurrency` scrapes in flight (8 by default)', async () => {
  let inFlight = 0;
  let most = 0;
  const port = await serve((_req, res) => {
    most = Math.max(most, ++inFlight);
    setTimeout(() => {
      inFlight--;
      res.end('x 1\n');
    }, 30);
  });
  const targets = Array.from({ length: 30 }, (_, i) => ({ proxyId: `p${i}`, ip: '127.0.0.1' }));
  const results = await scrapeStats(targets, { port });
  expect(results.every((r) => 'text' in r)).toBe(true);
  expect(most).toBe(8);
  most = 0;
  await scrapeStats(targets.slice(0, 6), { port, concurrency: 2 });
  expect(most).toBe(2);
});
