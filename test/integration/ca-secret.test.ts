// Loading the CA against the real API server: the first start creates istio-ca-secret, replicas
// starting together agree on one root, and a plug-in `cacerts` is used when present.
import { loadOrCreateCa } from '../../src/ca/ca-secret.js';
import { loggerFor, setLogLevel } from '../../src/util/logger.js';
import { makePluginCa } from '../support/ca-certs.js';
import { clusterAvailable, kube, testNamespace } from '../support/cluster.js';
import { rest } from '../support/tokens.js';

setLogLevel('error');
const ns = testNamespace('ca-secret');
const { core } = kube();
const log = loggerFor('ca');
const b64 = (s: string): string => Buffer.from(s).toString('base64');

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
});
afterAll(() => core.deleteNamespace({ name: ns }).catch(() => undefined));

test('three replicas starting at once agree on one self-signed root, stored as Istio stores it', async () => {
  const cas = await Promise.all([0, 1, 2].map(() => loadOrCreateCa(rest(), { namespace: ns, trustDomain: 'cluster.local', log })));
  expect(new Set(cas.map((c) => c.rootPem)).size).toBe(1);
  const secret = await core.readNamespacedSecret({ namespace: ns, name: 'istio-ca-secret' });
  expect(secret.type).toBe('istio.io/ca-root');
  expect(Buffer.from(secret.data!['ca-cert.pem'], 'base64').toString()).toBe(cas[0].rootPem);
  // A restart reads it back.
  expect((await loadOrCreateCa(rest(), { namespace: ns, trustDomain: 'cluster.local', log })).rootPem).toBe(cas[0].rootPem);
});

test('a plug-in CA in cacerts is used instead', async () => {
  const plugin = makePluginCa();
  await core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'cacerts' }, data: { 'ca-cert.pem': b64(plugin.caCert), 'ca-key.pem': b64(plugin.caKey), 'root-cert.pem': b64(plugin.rootCert), 'cert-chain.pem': b64(plugin.certChain) } },
  });
  const ca = await loadOrCreateCa(rest(), { namespace: ns, trustDomain: 'cluster.local', log });
  expect(ca.rootPem).toBe(plugin.rootCert);
  expect(ca.certChain).toEqual([plugin.caCert, plugin.rootCert]);
});
