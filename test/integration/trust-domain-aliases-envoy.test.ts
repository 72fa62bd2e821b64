// meshConfig.trustDomainAliases with the real Envoy: a sidecar's STRICT inbound mTLS chain
// (translated, served over ADS, bound on loopback) in a mesh whose trust domain is new-td with
// the alias old-td, and an ALLOW policy naming `cluster.local/ns/shop/sa/buyer` (cluster.local
// stands for the local trust domain, as in Istio). Clients present real workload certificates
// of the same root: the buyer's identity in new-td and in old-td are both let through, another
// service account of old-td gets 403, and an identity of a trust domain outside the bundle does
// not even complete the handshake.
import { jest } from '@jest/globals';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { MeshCa } from '../../src/ca/authority.js';
import { createCsr, spiffeId } from '../../src/ca/csr.js';
import { ConfigStore } from '../../src/model/config-store.js';
import { Mesh } from '../../src/model/mesh.js';
import { buildSources, config } from '../support/mesh-fixtures.js';
import { MeshSnapshotProvider } from '../../src/translate/provider.js';
import { inboundClusterName } from '../../src/translate/names.js';
import { setLogLevel } from '../../src/util/logger.js';
import { XdsServer } from '../../src/xds/server.js';
import { bootstrap, Envoy, freePort, testMeshCa } from '../support/envoy.js';
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
let rootPem: string;
const clients = new Map<string, { cert: string; key: string }>();

/** A workload certificate of `trustDomain` from the test mesh's root (the one the sidecar trusts). */
async function workloadCert(trustDomain: string, serviceAccount: string): Promise<{ cert: string; key: string }> {
  const root = await testMeshCa();
  const ca = await MeshCa.fromPem({ caCertPem: root.signingCertPem, caKeyPem: root.signingKeyPem, rootCertPem: root.rootPem }, { trustDomain });
  const identity = { trustDomain, namespace: 'shop', serviceAccount };
  const { csrPem, keyPem } = createCsr(spiffeId(identity));
  return { cert: (await ca.sign(csrPem, identity, 3600)).slice(0, -1).join(''), key: keyPem };
}

/** A request over mesh mTLS (ALPN istio, as a client sidecar) with `who`'s certificate: its status, or the error. */
function call(who: string): Promise<number | string> {
  const c = clients.get(who)!;
  return new Promise((resolve) => {
    // ALPN is a TLS option https passes through (its RequestOptions type does not list it).
    const options: https.RequestOptions & { ALPNProtocols: string[] } = {
      host: '127.0.0.1',
      port: testPort,
      path: '/',
      agent: false,
      timeout: 5000,
      ca: rootPem,
      cert: c.cert,
      key: c.key,
      ALPNProtocols: ['istio'],
      rejectUnauthorized: false,
      headers: { host: 'web' },
    };
    const req = https.get(options, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve(`error: ${err.message}`));
  });
}

beforeAll(async () => {
  app = http.createServer((_req, res) => res.writeHead(200).end('app'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  appPort = (app.address() as net.AddressInfo).port;
  testPort = await freePort();
  rootPem = (await testMeshCa()).rootPem;
  for (const [name, td, sa] of [
    ['buyer@new-td', 'new-td', 'buyer'],
    ['buyer@old-td', 'old-td', 'buyer'],
    ['seller@old-td', 'old-td', 'seller'],
    ['buyer@other-td', 'other-td', 'buyer'],
  ] as const) {
    clients.set(name, await workloadCert(td, sa));
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
