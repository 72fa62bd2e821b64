// The control plane's side of a root change on 15012 (ServingIdentity, as main.ts wires it to the
// CA): with the bundle of both roots, proxies holding a workload certificate of either root are
// authenticated by it, and the serving certificate reissued from the new CA is verified by
// proxies whose root file holds the bundle; a certificate of an unrelated CA is never reported as
// verified; after the transition a certificate of the old root is not either. Real TLS on
// loopback through grpc-js, no cluster.
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { MeshCa } from '../../src/ca/authority.js';
import { createCsr } from '../../src/ca/csr.js';
import { ServingIdentity } from '../../src/xds/tls.js';

const NAME = 'trellis.trellis-system.svc';
const id = (b: Buffer): Buffer => b;
const service = { Who: { path: '/trellis.test.Peer/Who', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } } as unknown as grpc.ServiceDefinition;

let oldCa: MeshCa;
let newCa: MeshCa;
let evilCa: MeshCa;
let identity: ServingIdentity;
let server: grpc.Server;
let port: number;

async function workload(ca: MeshCa, sa: string): Promise<{ cert: string; key: string }> {
  const { csrPem, keyPem } = createCsr(`spiffe://cluster.local/ns/default/sa/${sa}`);
  const chain = await ca.sign(csrPem, { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: sa }, 3600);
  return { cert: chain.slice(0, -1).join(''), key: keyPem };
}

/** What the server saw of the caller: the verified certificate's URI, or "none". Rejects when TLS fails. */
function who(trusted: string, client: { cert: string; key: string }): Promise<string> {
  const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(trusted), Buffer.from(client.key), Buffer.from(client.cert)), {
    'grpc.ssl_target_name_override': NAME,
    'grpc.default_authority': NAME,
    'grpc.use_local_subchannel_pool': 1,
  });
  return new Promise<string>((resolve, reject) => {
    c.makeUnaryRequest<Buffer, Buffer>(service.Who.path, id, id, Buffer.alloc(0), new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) => {
      c.close();
      if (err) reject(err);
      else resolve(res!.toString());
    });
  });
}

beforeAll(async () => {
  [oldCa, newCa, evilCa] = await Promise.all([0, 1, 2].map(() => MeshCa.create({ trustDomain: 'cluster.local' })));
  identity = new ServingIdentity(await oldCa.issueServing([NAME], 1), oldCa.rootPem);
  server = new grpc.Server();
  server.addService(service, {
    Who: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
      cb(null, Buffer.from(raw ? (new X509Certificate(raw).subjectAltName ?? '') : 'none'));
    },
  });
  port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', identity.credentials(), (err, p) => (err ? reject(err) : resolve(p))));
});
afterAll(() => server?.forceShutdown());

test('before: an old-root workload is authenticated by its certificate', async () => {
  expect(await who(oldCa.rootPem, await workload(oldCa, 'a'))).toBe('URI:spiffe://cluster.local/ns/default/sa/a');
});

test('during: both roots authenticate, the new serving certificate verifies against the bundle, an unrelated CA does not', async () => {
  const bundle = newCa.rootPem + oldCa.rootPem;
  identity.setClientCa(bundle);
  identity.update(await newCa.issueServing([NAME], 1));
  expect(await who(bundle, await workload(oldCa, 'a'))).toBe('URI:spiffe://cluster.local/ns/default/sa/a');
  expect(await who(bundle, await workload(newCa, 'b'))).toBe('URI:spiffe://cluster.local/ns/default/sa/b');
  expect(await who(bundle, await workload(evilCa, 'a'))).toBe('none');
  // Why the CA waits before it switches: a proxy whose root file is still the old root alone
  // cannot verify the reissued serving certificate.
  await expect(who(oldCa.rootPem, await workload(oldCa, 'a'))).rejects.toThrow();
});

test('after: the old root is no longer trusted for client certificates', async () => {
  identity.setClientCa(newCa.rootPem);
  expect(await who(newCa.rootPem, await workload(oldCa, 'a'))).toBe('none');
  expect(await who(newCa.rootPem, await workload(newCa, 'b'))).toBe('URI:spiffe://cluster.local/ns/default/sa/b');
});
