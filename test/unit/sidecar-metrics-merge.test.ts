// The agent's merged scrape on its status port, with real HTTP servers on loopback standing in
// for Envoy's Prometheus listener and the app's metrics endpoint: both in one answer (Envoy's
// first, the app's last), Prometheus's headers passed on, the app's OpenMetrics format kept, and
// a source that is down or failing left out while the other is still served. App probes share
// the port.
import http from 'node:http';
import type net from 'node:net';
import { loggerFor } from '../../src/util/logger.js';
import { parsePrometheusAnnotations } from '../../src/sidecar/metrics-merge.js';
import { statusServer } from '../../src/sidecar/status-server.js';
import { parseAppProbers } from '../../src/sidecar/app-probes.js';

const log = loggerFor('test');

const ENVOY_TEXT = '# TYPE envoy_cluster_upstream_rq counter\nenvoy_cluster_upstream_rq{response_code="200"} 15\n';
const APP_TEXT = '# TYPE app_orders_total counter\napp_orders_total 7'; // no final newline: the agent adds one

let envoy: http.Server;
let app: http.Server;
let envoyPort: number;
let appPort: number;
let closedPort: number;
let appStatus = 200;
let appType = 'text/plain; version=0.0.4';
const seen: http.IncomingHttpHeaders[] = [];

const listen = async (s: net.Server): Promise<number> => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
};

beforeAll(async () => {
  envoy = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(req.url === '/stats/prometheus' ? 200 : 404, { 'content-type': 'text/plain; version=0.0.4' }).end(ENVOY_TEXT);
  });
  app = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(req.url === '/custom/metrics' ? appStatus : 404, { 'content-type': appType }).end(appType.startsWith('application/openmetrics-text') ? `${APP_TEXT}\n# EOF\n` : APP_TEXT);
  });
  envoyPort = await listen(envoy);
  appPort = await listen(app);
  const s = http.createServer();
  closedPort = await listen(s);
  await new Promise((r) => s.close(r));
});
afterAll(async () => {
  await new Promise((r) => envoy.close(r));
  await new Promise((r) => app.close(r));
});

async function withStatusServer(sources: { envoyPort: number; app?: { port: number; path: string } }, fn: (port: number) => Promise<void>): Promise<void> {
  const server = statusServer(parseAppProbers(JSON.stringify({ '/app-health/app/readyz': { tcpSocket: { port: appPort } } }), log), { envoyUrl: `http://127.0.0.1:${sources.envoyPort}/stats/prometheus`, app: sources.app }, log);
  const port = await listen(server);
  try {
    await fn(port);
  } finally {
    await new Promise((r) => server.close(r));
  }
}

function scrape(port: number, path = '/stats/prometheus', headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    }).on('error', reject);
  });
}

test("Envoy's stats and the app's, in one answer, on /stats/prometheus and /metrics; the app probes still answer", async () => {
  await withStatusServer({ envoyPort, app: { port: appPort, path: '/custom/metrics' } }, async (port) => {
    for (const path of ['/stats/prometheus', '/metrics']) {
      const r = await scrape(port, path, { accept: 'text/plain', 'x-prometheus-scrape-timeout-seconds': '3', 'user-agent': 'Prometheus/3.0' });
      expect(r).toEqual({ status: 200, type: 'text/plain; version=0.0.4; charset=utf-8', body: `${ENVOY_TEXT}${APP_TEXT}\n` });
    }
    expect(seen.at(-1)).toMatchObject({ accept: 'text/plain', 'x-prometheus-scrape-timeout-seconds': '3', 'user-agent': 'Prometheus/3.0' });
    expect((await scrape(port, '/app-health/app/readyz')).status).toBe(200);
    expect((await scrape(port, '/app-health/other/readyz')).status).toBe(404);
  });
});

test("the app's OpenMetrics answer keeps its format, last (its # EOF ends the whole)", async () => {
  appType = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
  try {
    await withStatusServer({ envoyPort, app: { port: appPort, path: '/custom/metrics' } }, async (port) => {
      const r = await scrape(port);
      expect(r.type).toBe(appType);
      expect(r.body).toBe(`${ENVOY_TEXT}${APP_TEXT}\n# EOF\n`);
    });
  } finally {
    appType = 'text/plain; version=0.0.4';
  }
});

test("the app down, or failing: Envoy's stats are still served", async () => {
  await withStatusServer({ envoyPort, app: { port: closedPort, path: '/metrics' } }, async (port) => {
    expect(await scrape(port)).toMatchObject({ status: 200, body: ENVOY_TEXT });
  });
  appStatus = 500;
  try {
    await withStatusServer({ envoyPort, app: { port: appPort, path: '/custom/metrics' } }, async (port) => {
      expect(await scrape(port)).toMatchObject({ status: 200, body: ENVOY_TEXT });
    });
  } finally {
    appStatus = 200;
  }
});

test("Envoy down: the app's metrics are still served; no app annotated: Envoy's alone", async () => {
  await withStatusServer({ envoyPort: closedPort, app: { port: appPort, path: '/custom/metrics' } }, async (port) => {
    expect(await scrape(port)).toMatchObject({ status: 200, body: `${APP_TEXT}\n` });
  });
  await withStatusServer({ envoyPort }, async (port) => {
    expect(await scrape(port)).toMatchObject({ status: 200, body: ENVOY_TEXT });
  });
});

test("ISTIO_PROMETHEUS_ANNOTATIONS as Istio's agent reads it", () => {
  expect(parsePrometheusAnnotations(undefined, 15020, log)).toBeUndefined();
  expect(parsePrometheusAnnotations('{"scrape":"true","path":"/custom","port":"9102"}', 15020, log)).toEqual({ port: 9102, path: '/custom' });
  // Istio's defaults: port 80, path /metrics.
  expect(parsePrometheusAnnotations('{"scrape":"","path":"","port":""}', 15020, log)).toEqual({ port: 80, path: '/metrics' });
  expect(parsePrometheusAnnotations('{"scrape":"false","path":"/m","port":"9102"}', 15020, log)).toBeUndefined();
  // The agent's own port would make it scrape itself forever; garbage is refused.
  expect(parsePrometheusAnnotations('{"port":"15020"}', 15020, log)).toBeUndefined();
  expect(parsePrometheusAnnotations('{"port":"http"}', 15020, log)).toBeUndefined();
  expect(parsePrometheusAnnotations('{not json', 15020, log)).toBeUndefined();
});
