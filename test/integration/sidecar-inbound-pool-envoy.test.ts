// A Sidecar's inboundConnectionPool with the real Envoy: a sidecar's inbound HTTP chain
// (translated, served over ADS, bound on loopback) in front of an app on 127.0.0.1 that holds
// each answer until the test lets it go. Without a pool every concurrent request reaches the app; once the
// Sidecar allows one connection and one pending request, the app never sees two at once and
// Envoy answers the overflow itself (503, x-envoy-overloaded), as Istio's inbound circuit
// breaker does.
import { jest } from '@jest/globals';
import http from 'node:http';
import type net from 'node:net';
import type { Mesh } from '../../src/model/mesh.js';
import { inboundClusterName } from '../../src/translate/names.js';
import { MeshSnapshotProvider } from '../../src/translate/provider.js';
import { setLogLevel } from '../../src/util/logger.js';
import { XdsServer } from '../../src/xds/server.js';
import { bootstrap, Envoy, freePort } from '../support/envoy.js';
import { withInboundChainOnLoopback } from '../support/inbound-chain.js';
import { buildMesh, config, type ServiceFixture } from '../support/mesh-fixtures.js';

jest.setTimeout(120_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

const NS = 'default';
const NODE_ID = `sidecar~127.0.0.1~web-0.${NS}~${NS}.svc.cluster.local`;
let app: http.Server;
let appPort: number;
let testPort: number;
let inFlight = 0;
let mostAtOnce = 0;
/** While a burst runs the app holds its answers until the test opens this (no timing involved). */
let gate: Promise<void> = Promise.resolve();
let server: XdsServer;
let envoy: Envoy;
let mesh: Mesh;
let services: ServiceFixture[];

interface Reply {
  status: number;
  overloaded: boolean;
}

function get(): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: testPort, path: '/', agent: false, timeout: 10_000, headers: { host: 'web' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, overloaded: res.headers['x-envoy-overloaded'] === 'true' }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

/**
 * `n` requests at once, the app holding every answer until `releaseWhen` holds (polled); the
 * replies and the most the app held at the same time.
 */
async function burst(n: number, releaseWhen: (repliedSoFar: number) => boolean): Promise<{ replies: Reply[]; mostAtOnce: number }> {
  mostAtOnce = 0;
  let open!: () => void;
  gate = new Promise<void>((r) => (open = r));
  let replied = 0;
  const all = Promise.all(Array.from({ length: n }, () => get().then((r) => (replied++, r))));
  await envoy.eventually('the burst to settle', async () => releaseWhen(replied) || undefined);
  open();
  return { replies: await all, mostAtOnce };
}

beforeAll(async () => {
  app = http.createServer((_req, res) => {
    inFlight++;
    mostAtOnce = Math.max(mostAtOnce, inFlight);
    void gate.then(() => {
      inFlight--;
      res.writeHead(200).end('app');
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  appPort = (app.address() as net.AddressInfo).port;
  testPort = await freePort();
  services = [{ namespace: NS, name: 'web', clusterIP: '10.96.0.80', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: appPort }], endpoints: [{ address: '127.0.0.1', labels: { app: 'web' } }] }];
  mesh = buildMesh(services, []);
  const sidecars = new MeshSnapshotProvider(() => mesh, { inboundPort: await freePort(), outboundPort: await freePort() });
  server = new XdsServer({ provider: withInboundChainOnLoopback(sidecars, inboundClusterName(appPort), testPort) });
  const boot = bootstrap({ nodeId: NODE_ID, xdsPort: await server.listen('127.0.0.1:0') });
  Object.assign(boot.node as object, { metadata: { LABELS: { app: 'web' }, NAMESPACE: NS } });
  envoy = await Envoy.start(boot);
  await envoy.eventually('the inbound chain', async () => (await get()).status === 200);
});

afterAll(async () => {
  await envoy?.stop();
  await server?.close();
  await new Promise((r) => app?.close(r));
});

test('without a pool, four requests at once all reach the app together', async () => {
  // Released once the app holds all four.
  const { replies, mostAtOnce: most } = await burst(4, () => inFlight === 4);
  expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
  expect(most).toBe(4);
});

test('with inboundConnectionPool of one connection and one pending request, the app sees one at a time and Envoy sheds the rest', async () => {
  mesh = buildMesh(services, [
    config('Sidecar', NS, 'web', {
      workloadSelector: { labels: { app: 'web' } },
      inboundConnectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } },
    }),
  ]);
  await server.push({ reason: 'config' });
  const cluster = inboundClusterName(appPort);
  await envoy.eventually('the pool on the inbound cluster', async () => (await envoy.admin('/clusters')).split('\n').includes(`${cluster}::default_priority::max_connections::1`));
  // Released once Envoy has answered the two it cannot hold (one active, one pending).
  const { replies, mostAtOnce: most } = await burst(4, (replied) => replied >= 2);
  expect(most).toBe(1);
  const shed = replies.filter((r) => r.status === 503);
  expect(shed.length).toBeGreaterThanOrEqual(1);
  expect(shed.every((r) => r.overloaded)).toBe(true);
  expect(replies.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(1);
  expect(await envoy.stat(`cluster.${cluster}.upstream_rq_pending_overflow`)).toBeGreaterThanOrEqual(shed.length);
});
