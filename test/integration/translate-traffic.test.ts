// Istio behaviours through the real Envoy with translated configuration: retries (Istio's
// default policy and a VirtualService's), fault abort and delay, timeouts, mirroring, CORS
// preflight, consistent-hash stickiness, outlier ejection and circuit-breaker overflow.
// Upstreams are node HTTP servers on 127.0.0.x; a test listener on loopback uses the sidecar's
// RDS route configuration for port 80 (what a captured connection to port 80 would use).
import { jest } from '@jest/globals';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import net from 'node:net';
import { httpConnectionManagerFilter } from '../../src/translate/filters.js';
import { sidecarSnapshot } from '../../src/translate/snapshot.js';
import { buildMesh, config, sidecar, type ServiceFixture } from '../support/mesh-fixtures.js';
import { setLogLevel } from '../../src/util/logger.js';
import { StaticSnapshotProvider } from '../../src/xds/snapshot.js';
import { XdsServer } from '../../src/xds/server.js';
import { bootstrap, Envoy, freePort, waitFor } from '../support/envoy.js';
import { TypeUrl, type Listener } from '../../src/xds/types.js';
import { makeServingCert, type TestCerts } from '../support/certs.js';

jest.setTimeout(180_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

const NS = 'default';
const NODE_ID = `sidecar~127.0.0.1~client-0.${NS}~${NS}.svc.cluster.local`;


interface Seen {
  path: string;
  headers: http.IncomingHttpHeaders;
}

/**
 * An upstream answering with its name. `x-fail-first: N` with `x-test-id` fails the first N
 * attempts of that id with 503; `/slow` answers after 3s; `status` makes every answer that status.
 */
async function upstream(name: string, host: string, status = 200): Promise<{ port: number; seen: Seen[]; close: () => Promise<void> }> {
  const attempts = new Map<string, number>();
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    const id = String(req.headers['x-test-id'] ?? '');
    const n = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, n);
    const reply = (code: number) => res.writeHead(code, { 'content-type': 'text/plain', 'x-upstream': name }).end(name);
    if (n <= Number(req.headers['x-fail-first'] ?? 0)) return reply(503);
    if (req.url?.startsWith('/slow')) return void setTimeout(() => reply(status), 3000);
    reply(status);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function request(port: number, host: string, opts: { path?: string; method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: opts.path ?? '/', method: opts.method ?? 'GET', agent: false, timeout: 10000, headers: { host, ...opts.headers } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('Istio traffic behaviours through translated configuration', () => {
  const ups: Record<string, Awaited<ReturnType<typeof upstream>>> = {};
  let tlsUpstream: { server: https.Server; port: number } | undefined;
  let certs: TestCerts;
  let server: XdsServer;
  let envoy: Envoy;
  let port: number;
  const cluster = (host: string, subset = '') => `cluster.outbound|80|${subset}|${host}.${NS}.svc.cluster.local`;
  // Cluster names hold '|', which /stats?filter= reads as a regex: read them all, pick exactly.
  const stat = async (name: string) => (await envoy.stats()).get(name) ?? 0;

  beforeAll(async () => {
    ups.e1 = await upstream('e1', '127.0.0.2');
    ups.e2 = await upstream('e2', '127.0.0.3');
    ups.shadow = await upstream('shadow', '127.0.0.4');
    ups.s1 = await upstream('s1', '127.0.0.5');
    ups.s2 = await upstream('s2', '127.0.0.6');
    ups.good = await upstream('good', '127.0.0.7');
    ups.bad = await upstream('bad', '127.0.0.8', 500);
    ups.slow = await upstream('slow', '127.0.0.9');
    // An HTTPS upstream: the sidecar originates TLS to it (DestinationRule tls SIMPLE).
    certs = makeServingCert([`DNS:secure.${NS}.svc.cluster.local`]);
    const tlsServer = https.createServer({ key: certs.key, cert: certs.cert }, (req, res) =>
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`tls:${(req.socket as TLSSocket).servername ?? ''}`),
    );
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.10', r));
    tlsUpstream = { server: tlsServer, port: (tlsServer.address() as net.AddressInfo).port };
    const http80 = [{ name: 'http', port: 80 }];
    const ep = (u: string, labels: Record<string, string> = {}) => ({ address: `127.0.0.${2 + Object.keys(ups).indexOf(u)}`, ports: { http: ups[u].port }, labels });
    const services: ServiceFixture[] = [
      { namespace: NS, name: 'echo', clusterIP: '10.96.1.1', ports: http80, endpoints: [ep('e1', { version: 'v1' }), ep('e2', { version: 'v2' })] },
      { namespace: NS, name: 'shadow', clusterIP: '10.96.1.2', ports: http80, endpoints: [ep('shadow')] },
      { namespace: NS, name: 'sticky', clusterIP: '10.96.1.3', ports: http80, endpoints: [ep('s1'), ep('s2')] },
      { namespace: NS, name: 'eject', clusterIP: '10.96.1.4', ports: http80, endpoints: [ep('good'), ep('bad')] },
      { namespace: NS, name: 'secure', clusterIP: '10.96.1.6', ports: http80, endpoints: [{ address: '127.0.0.10', ports: { http: tlsUpstream.port }, labels: {} }] },
      { namespace: NS, name: 'narrow', clusterIP: '10.96.1.5', ports: http80, endpoints: [ep('slow')] },
    ];
    const v1 = { host: 'echo', subset: 'v1' };
    const configs = [
      config('DestinationRule', NS, 'echo', { host: 'echo', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] }),
      config('DestinationRule', NS, 'sticky', { host: 'sticky', trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } } }),
      config('DestinationRule', NS, 'eject', { host: 'eject', trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' }, outlierDetection: { consecutive5xxErrors: 1, interval: '1s', baseEjectionTime: '5m', maxEjectionPercent: 100 } } }),
      config('DestinationRule', NS, 'narrow', { host: 'narrow', trafficPolicy: { connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 } } } }),
      config('DestinationRule', NS, 'secure', { host: 'secure', trafficPolicy: { tls: { mode: 'SIMPLE', caCertificates: path.join(certs.dir, 'ca.crt') } } }),
      config('VirtualService', NS, 'echo', {
        hosts: ['echo'],
        http: [
          { match: [{ queryParams: { canary: { exact: 'true' } } }], route: [{ destination: { host: 'echo', subset: 'v2' } }] },
          { match: [{ uri: { prefix: '/retry' } }], route: [{ destination: v1 }], retries: { attempts: 3, retryOn: '5xx' } },
          { match: [{ uri: { prefix: '/no-retry' } }], route: [{ destination: v1 }], retries: { attempts: 0 } },
          { match: [{ uri: { prefix: '/abort-all' } }], route: [{ destination: v1 }], fault: { abort: { httpStatus: 418, percentage: { value: 100 } } } },
          { match: [{ uri: { prefix: '/abort-half' } }], route: [{ destination: v1 }], fault: { abort: { httpStatus: 503, percentage: { value: 50 } } } },
          { match: [{ uri: { prefix: '/delay' } }], route: [{ destination: v1 }], fault: { delay: { fixedDelay: '0.2s', percentage: { value: 100 } } } },
          { match: [{ uri: { prefix: '/slow' } }], route: [{ destination: v1 }], timeout: '0.3s' },
          { match: [{ uri: { prefix: '/mirror' } }], route: [{ destination: v1 }], mirror: { host: 'shadow' }, mirrorPercentage: { value: 100 } },
          { match: [{ uri: { prefix: '/cors' } }], route: [{ destination: v1 }], corsPolicy: { allowOrigins: [{ exact: 'https://ok.example' }], allowMethods: ['GET', 'PUT'], maxAge: '1h' } },
          // Istio's weights are relative: 300 and 100 is a 75/25 split.
          { match: [{ uri: { prefix: '/relative' } }], route: [{ destination: v1, weight: 300 }, { destination: { host: 'echo', subset: 'v2' }, weight: 100 }] },
          { match: [{ uri: { prefix: '/old/' } }], redirect: { prefixRewrite: '/new/' } },
          // withoutHeaders regex "*": the header is absent.
          { match: [{ uri: { prefix: '/anon' }, withoutHeaders: { 'x-user': { regex: '*' } } }], route: [{ destination: { host: 'echo', subset: 'v2' } }] },
          { route: [{ destination: v1 }] },
        ],
      }),
    ];
    const snapshot = sidecarSnapshot(buildMesh(services, configs), sidecar(NS, { app: 'client' }, '127.0.0.1'), { outboundPort: await freePort(), inboundPort: await freePort() });
    port = await freePort();
    const testListener: Listener = {
      name: 'test_80',
      address: { socket_address: { address: '127.0.0.1', port_value: port } },
      filter_chains: [{ filters: [httpConnectionManagerFilter('test_80', '80', 'outbound')] }],
    };
    const listeners = new Map(snapshot[TypeUrl.Listener]);
    listeners.set('test_80', testListener);
    server = new XdsServer({ provider: new StaticSnapshotProvider({ ...snapshot, [TypeUrl.Listener]: listeners }) });
    envoy = await Envoy.start(bootstrap({ nodeId: NODE_ID, xdsPort: await server.listen('127.0.0.1:0') }));
    await waitFor('routes in Envoy', async () => (await request(port, 'echo').catch(() => undefined))?.body === 'e1', 30_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${envoy.log.slice(-3000)}`, { cause: err });
    });
  });

  afterAll(async () => {
    await envoy?.stop();
    await server?.close();
    for (const u of Object.values(ups)) await u.close();
    if (tlsUpstream) await new Promise((r) => tlsUpstream?.server.close(r));
    if (certs) fs.rmSync(certs.dir, { recursive: true, force: true });
  });

  test("Istio's default retry policy retries a 503 twice", async () => {
    expect((await request(port, 'echo', { headers: { 'x-test-id': 'd1', 'x-fail-first': '2' } })).status).toBe(200);
    expect((await request(port, 'echo', { headers: { 'x-test-id': 'd2', 'x-fail-first': '3' } })).status).toBe(503);
  });

  test("a VirtualService's retries: 3 attempts on 5xx; attempts 0 retries nothing", async () => {
    expect((await request(port, 'echo', { path: '/retry', headers: { 'x-test-id': 'r1', 'x-fail-first': '3' } })).body).toBe('e1');
    expect((await request(port, 'echo', { path: '/retry', headers: { 'x-test-id': 'r2', 'x-fail-first': '4' } })).status).toBe(503);
    expect((await request(port, 'echo', { path: '/no-retry', headers: { 'x-test-id': 'r3', 'x-fail-first': '1' } })).status).toBe(503);
  });

  test('fault abort: every request at 100%, about half at 50% over 400 requests', async () => {
    expect((await request(port, 'echo', { path: '/abort-all' })).status).toBe(418);
    let aborted = 0;
    for (let i = 0; i < 400; i++) if ((await request(port, 'echo', { path: '/abort-half' })).status === 503) aborted++;
    // Expected 200, sd 10: ±60 is 6 sd.
    expect(aborted).toBeGreaterThanOrEqual(140);
    expect(aborted).toBeLessThanOrEqual(260);
  });

  test('fault delay is injected (counted by Envoy) and the request still succeeds', async () => {
    const before = await envoy.stat('http.test_80.fault.delays_injected');
    const r = await request(port, 'echo', { path: '/delay' });
    expect(r.body).toBe('e1');
    expect(await envoy.stat('http.test_80.fault.delays_injected')).toBe(before + 1);
  });

  test('a route timeout answers 504 when the upstream is slower', async () => {
    const r = await request(port, 'echo', { path: '/slow' });
    expect(r.status).toBe(504);
    expect(await stat(`${cluster('echo', 'v1')}.upstream_rq_timeout`)).toBeGreaterThanOrEqual(1);
  });

  test('mirroring: the shadow gets a copy, the client gets the primary answer', async () => {
    const r = await request(port, 'echo', { path: '/mirror/x' });
    expect(r.body).toBe('e1');
    const copy = await waitFor('the shadow copy', async () => ups.shadow.seen.find((s) => s.path === '/mirror/x'), 10_000);
    expect(String(copy.headers.host)).toMatch(/-shadow$/);
  });

  test('CORS: an allowed preflight is answered by Envoy, a foreign origin gets no CORS headers', async () => {
    const ok = await request(port, 'echo', { path: '/cors', method: 'OPTIONS', headers: { origin: 'https://ok.example', 'access-control-request-method': 'PUT' } });
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('https://ok.example');
    expect(ok.headers['access-control-allow-methods']).toBe('GET,PUT');
    expect(ok.headers['access-control-max-age']).toBe('3600');
    const bad = await request(port, 'echo', { path: '/cors', headers: { origin: 'https://evil.example' } });
    expect(bad.headers['access-control-allow-origin']).toBeUndefined();
  });

  test('consistent hash on a header: a user sticks to one endpoint, users spread over both', async () => {
    const chosen = new Set<string>();
    for (let u = 0; u < 20; u++) {
      const bodies = new Set<string>();
      for (let i = 0; i < 10; i++) bodies.add((await request(port, 'sticky', { headers: { 'x-user': `user-${u}` } })).body);
      expect(bodies.size).toBe(1);
      chosen.add([...bodies][0]);
    }
    expect([...chosen].sort()).toEqual(['s1', 's2']);
  });

  test('outlier detection ejects the failing endpoint; then every request reaches the healthy one', async () => {
    await waitFor('an ejection', async () => {
      await request(port, 'eject');
      return (await stat(`${cluster('eject')}.outlier_detection.ejections_enforced_total`)) >= 1;
    }, 20_000);
    for (let i = 0; i < 20; i++) expect((await request(port, 'eject')).body).toBe('good');
  });

  test('circuit breaker: concurrent requests beyond the connection pool overflow with 503', async () => {
    const replies = await Promise.all(Array.from({ length: 8 }, () => request(port, 'narrow', { path: '/slow' })));
    const overflow = replies.filter((r) => r.status === 503 && r.headers['x-envoy-overloaded'] === 'true').length;
    expect(overflow).toBeGreaterThanOrEqual(1);
    expect(replies.some((r) => r.status === 200)).toBe(true);
    expect(await stat(`${cluster('narrow')}.upstream_rq_pending_overflow`)).toBeGreaterThanOrEqual(1);
  });

  test('relative weights (300 and 100) split 3:1', async () => {
    const bodies: string[] = [];
    for (let i = 0; i < 400; i++) bodies.push((await request(port, 'echo', { path: '/relative' })).body);
    const v1Share = bodies.filter((b) => b === 'e1').length / bodies.length;
    expect(v1Share).toBeGreaterThan(0.65);
    expect(v1Share).toBeLessThan(0.85);
  });

  test('a redirect with only prefixRewrite replaces the matched prefix', async () => {
    const r = await request(port, 'echo', { path: '/old/page?x=1' });
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('http://echo/new/page?x=1');
  });

  test('withoutHeaders regex "*" matches a request without the header only', async () => {
    expect((await request(port, 'echo', { path: '/anon' })).body).toBe('e2');
    expect((await request(port, 'echo', { path: '/anon', headers: { 'x-user': 'alice' } })).body).toBe('e1');
  });

  test('a query parameter match routes to its subset', async () => {
    for (let i = 0; i < 10; i++) {
      expect((await request(port, 'echo', { path: '/?canary=true' })).body).toBe('e2');
      expect((await request(port, 'echo', { path: '/?canary=false' })).body).toBe('e1');
    }
  });

  test('TLS origination: plain HTTP from the app, TLS with SNI to an upstream the CA vouches for', async () => {
    const r = await request(port, 'secure');
    expect(r.status).toBe(200);
    expect(r.body).toBe(`tls:secure.${NS}.svc.cluster.local`);
  });
});
