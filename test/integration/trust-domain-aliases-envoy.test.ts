// meshConfig.trustDomainAliases with the real Envoy: a sidecar's STRICT inbound mTLS chain
// (translated, served over ADS, bound on loopback) in a mesh whose trust domain is new-td with
// the alias old-td, and an ALLOW policy naming `cluster.local/ns/shop/sa/buyer` (cluster.local
// stands for the local trust domain, as in Istio). Clients present real workload certificates
// of the same root: the buyer's identity in new-td and in old-td are both let through, another
// service account of old-td gets 403, and an identity of a trust domain outside the bundle does
// not even complete the handshake.
import { jest } from '@jest/globals';
import http from 'node:http';
import type net from 'node:net';
import { ConfigStore } from '../../src/model/config-store.js';
import { Mesh } from '../../src/model/mesh.js';
import { buildSources, config } from '../support/mesh-fixtures.js';
import { MeshSnapshotProvider } from '../../src/translate/provider.js';
import { inboundClusterName } from '../../src/translate/names.js';
import { setLogLevel } from '../../src/util/logger.js';
import { XdsServer } from '../../src/xds/server.js';
import { bootstrap, Envoy, freePort } from '../support/envoy.js';
import { meshGet, workloadCert, type WorkloadCert } from '../support/mesh-client.js';
import { withInboundChainOnLoopback } from '../support/inbound-chain.js';

jest.setTimeout(120_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

const NS = 'default';
const NODE_ID = `sidecar~127.0.0.1~web-0.${NS}~${NS}.svc.cluster.local`;
let app: http.Server;
let appPort: number;
let testPort: number;
let server: XdsServer;
let envoy: Envoy;
const clients = new Map<string, WorkloadCert>();

/** A request over mesh mTLS (ALPN istio, as a client sidecar) with `who`'s certificate: its status, or the error. */
async function call(who: string): Promise<number | string> {
  const r = await meshGet({ port: testPort, who: clients.get(who)!, headers: { host: 'web' } });
  return 'status' in r ? r.status : `error: ${r.error}`;
}

beforeAll(async () => {
  app = http.createServer((_req, res) => res.writeHead(200).end('app'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  appPort = (app.address() as net.AddressInfo).port;
  testPort = await freePort();
  for (const [name, td, sa] of [
    ['buyer@new-td', 'new-td', 'buyer'],
    ['buyer@old-td', 'old-td', 'buyer'],
    ['seller@old-td', 'old-td', 'seller'],
    ['buyer@other-td', 'other-td', 'buyer'],
  ] as const) {
    clients.set(name, await workloadCert({ trustDomain: td, namespace: 'shop', serviceAccount: sa }));
  }
  const { store, registry } = buildSources(
    [{ namespace: NS, name: 'web', clusterIP: '10.96.0.80', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: appPort }], endpoints: [{ address: '127.0.0.1', labels: { app: 'web' } }] }],
    [
      config('PeerAuthentication', NS, 'strict', { mtls: { mode: 'STRICT' } }),
      config('AuthorizationPolicy', NS, 'buyers', { selector: { matchLabels: { app: 'web' } }, rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/buyer'] } }] }] }),
    ],
  );
  const mesh = new Mesh(store as ConfigStore, registry, { trustDomain: 'new-td', trustDomainAliases: ['old-td'] });
  const sidecars = new MeshSnapshotProvider(() => mesh, { inboundPort: await freePort(), outboundPort: await freePort() });
  // The mTLS chain of the app's port, on a loopback port of its own (nothing redirects here).
  server = new XdsServer({ provider: withInboundChainOnLoopback(sidecars, `${inboundClusterName(appPort)}-mtls`, testPort) });
  const boot = bootstrap({ nodeId: NODE_ID, xdsPort: await server.listen('127.0.0.1:0') });
  Object.assign(boot.node as object, { metadata: { LABELS: { app: 'web' }, NAMESPACE: NS } });
  envoy = await Envoy.start(boot);
  await envoy.eventually('the inbound mTLS chain', async () => (await call('buyer@new-td')) === 200);
});

afterAll(async () => {
  await envoy?.stop();
  await server?.close();
  await new Promise((r) => app?.close(r));
});

test("the buyer's identity in the mesh's trust domain and in its alias are both allowed", async () => {
  expect(await call('buyer@new-td')).toBe(200);
  expect(await call('buyer@old-td')).toBe(200);
});

test('another service account of the alias is refused by the policy (403)', async () => {
  expect(await call('seller@old-td')).toBe(403);
});

test('an identity of a trust domain outside the bundle does not get past the handshake', async () => {
  expect(String(await call('buyer@other-td'))).toMatch(/^error: /);
});
