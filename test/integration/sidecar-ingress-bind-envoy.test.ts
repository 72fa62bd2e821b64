// A Sidecar's ingress listeners with captureMode NONE, with the real Envoy: the proxy binds each
// listener's port on its own address (the `bind`, else the pod's address, else the wildcard) for
// traffic iptables does not capture, and forwards it to the app's defaultEndpoint, a TCP port or a
// Unix socket. Binding a port is no way around the workload's policies: under STRICT mTLS a
// plaintext client is refused there, and an AuthorizationPolicy denies there as it does in
// virtualInbound.
import { jest } from '@jest/globals';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ConfigStore } from '../../src/model/config-store.js';
import { Mesh } from '../../src/model/mesh.js';
import { MeshSnapshotProvider } from '../../src/translate/provider.js';
import { setLogLevel } from '../../src/util/logger.js';
import { XdsServer } from '../../src/xds/server.js';
import { bootstrap, Envoy, freePort } from '../support/envoy.js';
import { buildSources, config } from '../support/mesh-fixtures.js';

jest.setTimeout(120_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

const NS = 'default';
// The proxy's address is loopback, not global unicast: a listener without a bind takes the wildcard (Istio).
const NODE_ID = `sidecar~127.0.0.1~server-0.${NS}~${NS}.svc.cluster.local`;
const BIND = '127.0.0.3';
let tmp: string;
let app: http.Server;
let socketApp: http.Server;
let appPort: number;
let httpPort: number;
let tcpPort: number;
let server: XdsServer;
let envoy: Envoy;
let mesh: Mesh;
let sidecar: ReturnType<typeof config>;

type Answer = { status: number; body: string } | { error: string };

/** GET http://<host>:<port>/: the status and body, or the error. */
function get(host: string, port: number): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/', agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
  });
}

/** An app answering who it is and whether Envoy's HTTP connection manager handled the request. */
function echo(name: string): http.Server {
  return http.createServer((req, res) => res.writeHead(200).end(`${name} proto=${req.headers['x-forwarded-proto'] ?? '-'}`));
}

async function apply(configs: Parameters<typeof buildSources>[1]): Promise<void> {
  const { store, registry } = buildSources([], configs);
  mesh = new Mesh(store as ConfigStore, registry);
  await server.push({ reason: 'config' });
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-ingress-bind-'));
  app = echo('tcp-app');
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  appPort = (app.address() as net.AddressInfo).port;
  socketApp = echo('socket-app');
  await new Promise<void>((r) => socketApp.listen(path.join(tmp, 'app.sock'), r));
  httpPort = await freePort();
  tcpPort = await freePort();
  sidecar = config('Sidecar', NS, 'server', {
    workloadSelector: { labels: { app: 'server' } },
    ingress: [
      { port: { number: httpPort, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', bind: BIND, defaultEndpoint: `127.0.0.1:${appPort}` },
      { port: { number: tcpPort, protocol: 'TCP', name: 'tcp' }, captureMode: 'NONE', defaultEndpoint: `unix://${path.join(tmp, 'app.sock')}` },
    ],
  });
  const empty = buildSources([], []);
  mesh = new Mesh(empty.store as ConfigStore, empty.registry);
  const sidecars = new MeshSnapshotProvider(() => mesh, { inboundPort: await freePort(), outboundPort: await freePort() });
  server = new XdsServer({ provider: sidecars });
  const boot = bootstrap({ nodeId: NODE_ID, xdsPort: await server.listen('127.0.0.1:0') });
  Object.assign(boot.node as object, { metadata: { LABELS: { app: 'server' }, NAMESPACE: NS } });
  envoy = await Envoy.start(boot);
  await envoy.eventually('virtualInbound', async () => (await envoy.admin('/listeners')).includes('virtualInbound'));
});

afterAll(async () => {
  await envoy?.stop();
  await server?.close();
  await new Promise((r) => app?.close(r));
  await new Promise((r) => socketApp?.close(r));
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('without the Sidecar, nothing listens on the ports', async () => {
  expect(await get(BIND, httpPort)).toEqual({ error: 'ECONNREFUSED' });
  expect(await get('127.0.0.1', tcpPort)).toEqual({ error: 'ECONNREFUSED' });
});

test('with captureMode NONE, the port is bound on its address and reaches the app at its defaultEndpoint', async () => {
  await apply([sidecar]);
  const viaHttp = await envoy.eventually('the HTTP port on its bind', async () => {
    const r = await get(BIND, httpPort);
    return 'status' in r ? r : undefined;
  });
  // Through Envoy's HTTP connection manager (it set x-forwarded-proto) to the app on 127.0.0.1:<appPort>.
  expect(viaHttp).toEqual({ status: 200, body: 'tcp-app proto=http' });
  // The TCP port, bound on the wildcard, proxied byte for byte to the app's Unix socket.
  expect(await get('127.0.0.1', tcpPort)).toEqual({ status: 200, body: 'socket-app proto=-' });
  const listeners = await envoy.admin('/listeners');
  expect(listeners).toContain(`${BIND}_${httpPort}::${BIND}:${httpPort}`);
  expect(listeners).toContain(`0.0.0.0_${tcpPort}::0.0.0.0:${tcpPort}`);
});

test('an AuthorizationPolicy denies on the bound port as in virtualInbound', async () => {
  await apply([sidecar, config('AuthorizationPolicy', NS, 'deny-all', { selector: { matchLabels: { app: 'server' } }, action: 'DENY', rules: [{}] })]);
  const denied = await envoy.eventually('the deny', async () => {
    const r = await get(BIND, httpPort);
    return 'status' in r && r.status === 403 ? r : undefined;
  });
  expect(denied).toMatchObject({ status: 403, body: 'RBAC: access denied' });
});

test('under STRICT mTLS, a plaintext client is refused on the bound ports', async () => {
  await apply([sidecar, config('PeerAuthentication', NS, 'default', { mtls: { mode: 'STRICT' } })]);
  const refused = await envoy.eventually('the refusal', async () => {
    const r = await get(BIND, httpPort);
    return 'error' in r ? r : undefined;
  });
  expect(refused).toEqual({ error: 'ECONNRESET' });
  expect(await get('127.0.0.1', tcpPort)).toEqual({ error: 'ECONNRESET' });
});
