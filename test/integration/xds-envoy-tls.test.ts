// xDS over TLS (15012 in a cluster) with the real Envoy: Envoy verifies the server against the
// CA and the name, receives its configuration and keeps it; an Envoy trusting another CA gets
// nothing; a renewed serving certificate is what new connections see, while the established
// stream keeps serving. (control-plane-process.test.ts: the process serves it with its webhook
// certificate.)
import { jest } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { setLogLevel } from '../../src/util/logger.js';
import { StaticSnapshotProvider } from '../../src/xds/snapshot.js';
import { XdsServer } from '../../src/xds/server.js';
import { bootstrap, Envoy } from '../support/envoy.js';
import { edsCluster, endpoints } from '../support/envoy-resources.js';
import { ServingIdentity } from '../../src/xds/tls.js';
import { TypeUrl } from '../../src/xds/types.js';
import { makeServingCert, type TestCerts } from '../support/certs.js';

jest.setTimeout(120_000);

const NAME = 'trellis.trellis-system.svc';
let server: XdsServer;
let provider: StaticSnapshotProvider;
let port: number;
let identity: ServingIdentity;
let first: TestCerts;
let other: TestCerts;
const envoys: Envoy[] = [];

const caFile = (c: TestCerts) => path.join(c.dir, 'ca.crt');

/** EDS clusters and their endpoints (a cluster without its endpoints would stay warming). */
function config(names: string[]) {
  return {
    [TypeUrl.Cluster]: new Map(names.map((n) => [n, edsCluster(n)])),
    [TypeUrl.Endpoint]: new Map(names.map((n) => [n, endpoints(n, [{ host: '127.0.0.1', port: 9 }])])),
  };
}

async function start(ca: TestCerts, id: string): Promise<Envoy> {
  const e = await Envoy.start(bootstrap({ nodeId: `sidecar~127.0.0.1~${id}.default~default.svc.cluster.local`, xdsPort: port, tls: { caFile: caFile(ca), serverName: NAME } }));
  envoys.push(e);
  return e;
}

const clusters = async (e: Envoy): Promise<string[]> =>
  ((await e.configDump('?resource=dynamic_active_clusters')).configs ?? []).map((c) => (c as { cluster?: { name?: string } }).cluster?.name ?? '');

/** The certificate a fresh TLS connection to the server is shown. */
function servedCertificate(ca: TestCerts): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: NAME, ca: ca.caCert, ALPNProtocols: ['h2'] }, () => {
      resolve(s.getPeerCertificate());
      s.end();
    });
    s.on('error', reject);
  });
}

beforeAll(async () => {
  setLogLevel('error');
  first = makeServingCert([`DNS:${NAME}`], 'xds-v1');
  other = makeServingCert([`DNS:${NAME}`], 'xds-other-ca');
  identity = new ServingIdentity({ cert: first.cert, key: first.key });
  provider = new StaticSnapshotProvider(config(['a']));
  server = new XdsServer({ provider });
  port = await server.listen('127.0.0.1:0', identity.credentials());
});

afterAll(async () => {
  await Promise.all(envoys.map((e) => e.stop()));
  await server?.close();
  for (const c of [first, other]) if (c) fs.rmSync(c.dir, { recursive: true, force: true });
});

test('Envoy verifies the server by CA and name and receives its configuration over TLS', async () => {
  const e = await start(first, 'trusting');
  await e.eventually('cluster a over TLS', async () => (await clusters(e)).includes('a'));
  expect(await e.stat('cluster.xds-grpc.ssl.handshake')).toBeGreaterThan(0);
});

test('an Envoy that trusts another CA gets nothing', async () => {
  const e = await start(other, 'distrusting');
  await e.eventually('a failed verification', async () => (await e.stat('cluster.xds-grpc.ssl.fail_verify_error')) > 0);
  expect(await clusters(e)).toEqual([]);
});

test('a renewed certificate is served to new connections; the established stream keeps serving', async () => {
  const e = envoys[0];
  expect((await servedCertificate(first)).subject.CN).toBe('xds-v1');
  const renewed = makeServingCert([`DNS:${NAME}`], 'xds-v2');
  try {
    identity.update({ cert: renewed.cert, key: renewed.key });
    expect((await servedCertificate(renewed)).subject.CN).toBe('xds-v2');
    await expect(servedCertificate(first)).rejects.toThrow();
    // The stream opened before the renewal still carries pushes.
    provider.set(config(['a', 'b']));
    await server.push({ reason: 'test' });
    await e.eventually('cluster b on the old stream', async () => (await clusters(e)).includes('b'));
  } finally {
    fs.rmSync(renewed.dir, { recursive: true, force: true });
  }
});
