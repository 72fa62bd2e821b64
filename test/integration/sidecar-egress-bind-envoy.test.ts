// A Sidecar's egress listeners with captureMode NONE, with the real Envoy: the proxy binds each
// listener's port on 127.0.0.1 for the app to call directly (nothing captures it), an HTTP port
// routed by its hosts' virtual hosts and a TCP port proxied to its service, both to an app on
// loopback. Before the Sidecar asks for it nothing listens on those ports (the per-port outbound
// listeners are not bound; iptables would hand them connections). A listener without a port lends
// its captureMode and bind to every port of its services; an HTTP listener on a Unix domain socket
// serves its hosts there, routed by Host.
import { jest } from '@jest/globals';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Mesh } from '../../src/model/mesh.js';
import { MeshSnapshotProvider } from '../../src/translate/provider.js';
import { setLogLevel } from '../../src/util/logger.js';
import { XdsServer } from '../../src/xds/server.js';
import { bootstrap, Envoy, freePort } from '../support/envoy.js';
import { plainGet } from '../support/mesh-client.js';
import { buildMesh, config, type ServiceFixture } from '../support/mesh-fixtures.js';

jest.setTimeout(120_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

const NS = 'default';
const NODE_ID = `sidecar~127.0.0.1~client-0.${NS}~${NS}.svc.cluster.local`;
let app: http.Server;
let httpPort: number;
let tcpPort: number;
let server: XdsServer;
let envoy: Envoy;
let mesh: Mesh;
let services: ServiceFixture[];

type Routed = { status: number; body: string; routed: boolean } | { error: string };

/** GET / with Host `host` on a loopback port or a Unix socket: the answer, and whether Envoy's router gave it. */
async function get(where: number | string, host: string): Promise<Routed> {
  const a = await plainGet(typeof where === 'number' ? { port: where, headers: { host } } : { socketPath: where, headers: { host } });
  return 'status' in a ? { status: a.status, body: a.body, routed: a.headers['x-envoy-upstream-service-time'] !== undefined } : a;
}

beforeAll(async () => {
  app = http.createServer((_req, res) => res.writeHead(200).end('app'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as net.AddressInfo).port;
  httpPort = await freePort();
  tcpPort = await freePort();
  services = [
    { namespace: NS, name: 'web', clusterIP: '10.96.0.80', selector: { app: 'web' }, ports: [{ name: 'http', port: httpPort, targetPort: appPort }], endpoints: [{ address: '127.0.0.1', labels: { app: 'web' } }] },
    { namespace: NS, name: 'db', clusterIP: '10.96.0.81', selector: { app: 'db' }, ports: [{ name: 'tcp', port: tcpPort, targetPort: appPort }], endpoints: [{ address: '127.0.0.1', labels: { app: 'db' } }] },
  ];
  mesh = buildMesh(services, []);
  const sidecars = new MeshSnapshotProvider(() => mesh, { inboundPort: await freePort(), outboundPort: await freePort() });
  server = new XdsServer({ provider: sidecars });
  const boot = bootstrap({ nodeId: NODE_ID, xdsPort: await server.listen('127.0.0.1:0') });
  Object.assign(boot.node as object, { metadata: { LABELS: { app: 'client' }, NAMESPACE: NS } });
  envoy = await Envoy.start(boot);
  await envoy.eventually('the outbound listeners', async () => (await envoy.admin('/listeners')).includes(`0.0.0.0_${httpPort}`));
});

afterAll(async () => {
  await envoy?.stop();
  await server?.close();
  await new Promise((r) => app?.close(r));
});

test('without the Sidecar, nothing listens on the ports: the outbound listeners wait for captured traffic', async () => {
  expect(await get(httpPort, 'web')).toEqual({ error: 'ECONNREFUSED' });
  expect(await get(tcpPort, 'db')).toEqual({ error: 'ECONNREFUSED' });
});

test('with captureMode NONE, the app calls 127.0.0.1:<port> and reaches the service, by HTTP route and by TCP', async () => {
  mesh = buildMesh(services, [
    config('Sidecar', NS, 'client', {
      workloadSelector: { labels: { app: 'client' } },
      egress: [
        { port: { number: httpPort, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', hosts: [`./web.${NS}.svc.cluster.local`] },
        { port: { number: tcpPort, protocol: 'TCP', name: 'tcp' }, captureMode: 'NONE', hosts: [`./db.${NS}.svc.cluster.local`] },
      ],
    }),
  ]);
  await server.push({ reason: 'config' });
  const viaHttp = await envoy.eventually('the HTTP port on 127.0.0.1', async () => {
    const r = await get(httpPort, 'web');
    return 'status' in r && r.status === 200 ? r : undefined;
  });
  expect(viaHttp).toMatchObject({ body: 'app', routed: true });
  // The TCP port: proxied to its service whatever the bytes say (no router, so no Envoy header).
  const tcp = await get(tcpPort, 'anything');
  expect(tcp).toMatchObject({ status: 200, body: 'app', routed: false });
  const listeners = await envoy.admin('/listeners');
  expect(listeners).toContain(`127.0.0.1_${httpPort}::127.0.0.1:${httpPort}`);
  expect(listeners).toContain(`127.0.0.1_${tcpPort}::127.0.0.1:${tcpPort}`);
});

test('a listener without a port binds every port of its services on its address', async () => {
  // Back to no Sidecar first: the ports are let go.
  mesh = buildMesh(services, []);
  await server.push({ reason: 'config' });
  await envoy.eventually('the ports let go', async () => ('error' in (await get(httpPort, 'web')) ? true : undefined));
  expect(await get(tcpPort, 'db')).toEqual({ error: 'ECONNREFUSED' });
  mesh = buildMesh(services, [config('Sidecar', NS, 'client', { workloadSelector: { labels: { app: 'client' } }, egress: [{ captureMode: 'NONE', hosts: ['./*'] }] })]);
  await server.push({ reason: 'config' });
  const viaHttp = await envoy.eventually('the HTTP port on 127.0.0.1', async () => {
    const r = await get(httpPort, 'web');
    return 'status' in r && r.status === 200 ? r : undefined;
  });
  expect(viaHttp).toMatchObject({ body: 'app', routed: true });
  expect(await get(tcpPort, 'anything')).toMatchObject({ status: 200, body: 'app', routed: false });
  // On the listener's default address, 127.0.0.1, for the app alone.
  const listeners = await envoy.admin('/listeners');
  expect(listeners).toContain(`127.0.0.1_${httpPort}::127.0.0.1:${httpPort}`);
  expect(listeners).toContain(`127.0.0.1_${tcpPort}::127.0.0.1:${tcpPort}`);
});

test('an HTTP listener on a Unix domain socket routes the app by Host', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-egress-uds-'));
  const file = path.join(dir, 'egress.sock');
  try {
    mesh = buildMesh(services, [
      config('Sidecar', NS, 'client', {
        workloadSelector: { labels: { app: 'client' } },
        egress: [
          { port: { number: 0, protocol: 'HTTP', name: 'uds' }, bind: `unix://${file}`, hosts: [`./web.${NS}.svc.cluster.local`] },
        ],
      }),
    ]);
    await server.push({ reason: 'config' });
    const viaFile = await envoy.eventually('the socket file', async () => {
      const r = await get(file, `web.${NS}.svc.cluster.local:${httpPort}`);
      return 'status' in r && r.status === 200 ? r : undefined;
    });
    expect(viaFile).toEqual({ status: 200, body: 'app', routed: true });
    expect(await get(file, 'web')).toEqual({ status: 200, body: 'app', routed: true });
    // A host the socket's listener did not import: no virtual host (no original destination to pass to).
    expect(await get(file, 'elsewhere.example')).toMatchObject({ status: 404, routed: false });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
