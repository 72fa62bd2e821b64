// A Sidecar's ingress listeners with captureMode NONE, with the real Envoy: the proxy binds each
// listener's port on its own address (the `bind`, else the pod's address, else the wildcard) for
// traffic iptables does not capture, and forwards it to the app's defaultEndpoint, a TCP port or a
// Unix socket. Binding a port is no way around the workload's policies: under STRICT mTLS a
// plaintext client is refused there while a client sidecar's mTLS gets in, and an
// AuthorizationPolicy refuses another namespace's identity there as it does in virtualInbound.
import { jest } from '@jest/globals';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AnyConfig } from '../../src/model/config-store.js';
import type { Mesh } from '../../src/model/mesh.js';
import { MeshSnapshotProvider } from '../../src/translate/provider.js';
import { setLogLevel } from '../../src/util/logger.js';
import { XdsServer } from '../../src/xds/server.js';
import { bootstrap, Envoy, freePort } from '../support/envoy.js';
import { meshGet, plainGet, workloadCert, type WorkloadCert } from '../support/mesh-client.js';
import { buildMesh, config } from '../support/mesh-fixtures.js';

jest.setTimeout(120_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

const NS = 'default';
// The proxy's address is loopback, not global unicast: a listener without a bind takes the wildcard (Istio).
const NODE_ID = `sidecar~127.0.0.1~server-0.${NS}~${NS}.svc.cluster.local`;
const BIND = '127.0.0.3';
let tmp: string;
let app: http.Server;
let socketApp: http.Server;
let httpPort: number;
let tcpPort: number;
let server: XdsServer;
let envoy: Envoy;
let mesh: Mesh;
let sidecar: AnyConfig;
let client: WorkloadCert;
let stranger: WorkloadCert;

/** An app answering who it is and whether Envoy's HTTP connection manager handled the request. */
function echo(name: string): http.Server {
  return http.createServer((req, res) => res.writeHead(200).end(`${name} proto=${req.headers['x-forwarded-proto'] ?? '-'}`));
}

const onHttp = { host: BIND, port: 0 };
const onTcp = { host: '127.0.0.1', port: 0 };
const statusOf = (a: Awaited<ReturnType<typeof plainGet>>): number | string => ('status' in a ? a.status : a.error);

async function apply(configs: AnyConfig[]): Promise<void> {
  mesh = buildMesh([], configs);
  await server.push({ reason: 'config' });
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-ingress-bind-'));
  app = echo('tcp-app');
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as net.AddressInfo).port;
  socketApp = echo('socket-app');
  await new Promise<void>((r) => socketApp.listen(path.join(tmp, 'app.sock'), r));
  onHttp.port = httpPort = await freePort();
  onTcp.port = tcpPort = await freePort();
  client = await workloadCert({ namespace: NS, serviceAccount: 'client' });
  stranger = await workloadCert({ namespace: 'other', serviceAccount: 'client' });
  sidecar = config('Sidecar', NS, 'server', {
    workloadSelector: { labels: { app: 'server' } },
    ingress: [
      { port: { number: httpPort, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', bind: BIND, defaultEndpoint: `127.0.0.1:${appPort}` },
      { port: { number: tcpPort, protocol: 'TCP', name: 'tcp' }, captureMode: 'NONE', defaultEndpoint: `unix://${path.join(tmp, 'app.sock')}` },
    ],
  });
  mesh = buildMesh([], []);
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
  expect(await plainGet(onHttp)).toEqual({ error: 'ECONNREFUSED' });
  expect(await plainGet(onTcp)).toEqual({ error: 'ECONNREFUSED' });
});

test('with captureMode NONE, the port is bound on its address and reaches the app at its defaultEndpoint', async () => {
  await apply([sidecar]);
  const viaHttp = await envoy.eventually('the HTTP port on its bind', async () => {
    const r = await plainGet(onHttp);
    return 'status' in r ? r : undefined;
  });
  // Through Envoy's HTTP connection manager (it set x-forwarded-proto) to the app on 127.0.0.1:<appPort>.
  expect(viaHttp).toMatchObject({ status: 200, body: 'tcp-app proto=http' });
  // The TCP port, bound on the wildcard, proxied byte for byte to the app's Unix socket.
  expect(await plainGet(onTcp)).toMatchObject({ status: 200, body: 'socket-app proto=-' });
  const listeners = await envoy.admin('/listeners');
  expect(listeners).toContain(`${BIND}_${httpPort}::${BIND}:${httpPort}`);
  expect(listeners).toContain(`0.0.0.0_${tcpPort}::0.0.0.0:${tcpPort}`);
});

test('an AuthorizationPolicy denies on the bound ports as in virtualInbound', async () => {
  await apply([sidecar, config('AuthorizationPolicy', NS, 'deny-all', { selector: { matchLabels: { app: 'server' } }, action: 'DENY', rules: [{}] })]);
  const denied = await envoy.eventually('the deny', async () => {
    const r = await plainGet(onHttp);
    return 'status' in r && r.status === 403 ? r : undefined;
  });
  expect(denied).toMatchObject({ status: 403, body: 'RBAC: access denied' });
  // The TCP port: the network RBAC filter closes the connection before the app answers.
  expect(statusOf(await plainGet(onTcp))).toMatch(/ECONNRESET|socket hang up/);
});

describe('under STRICT mTLS with an ALLOW policy for one identity', () => {
  beforeAll(async () => {
    await apply([
      sidecar,
      config('PeerAuthentication', NS, 'default', { mtls: { mode: 'STRICT' } }),
      config('AuthorizationPolicy', NS, 'client-only', { selector: { matchLabels: { app: 'server' } }, rules: [{ from: [{ source: { principals: [`cluster.local/ns/${NS}/sa/client`] } }] }] }),
    ]);
    await envoy.eventually('the client through the bound port', async () => statusOf(await meshGet({ ...onHttp, who: client })) === 200);
  });

  test("a client sidecar's mTLS with the allowed identity gets in, on both bound ports", async () => {
    expect(await meshGet({ ...onHttp, who: client })).toMatchObject({ status: 200, body: 'tcp-app proto=https' });
    expect(await meshGet({ ...onTcp, who: client })).toMatchObject({ status: 200, body: 'socket-app proto=-' });
  });

  test("another namespace's identity is refused: 403 on HTTP, the connection closed on TCP", async () => {
    expect(await meshGet({ ...onHttp, who: stranger })).toMatchObject({ status: 403 });
    expect(statusOf(await meshGet({ ...onTcp, who: stranger }))).toMatch(/ECONNRESET|socket hang up/);
  });

  test('a plaintext client is refused on the bound ports', async () => {
    expect(await plainGet(onHttp)).toEqual({ error: 'ECONNRESET' });
    expect(await plainGet(onTcp)).toEqual({ error: 'ECONNRESET' });
  });
});
