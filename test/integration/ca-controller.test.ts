// The CA following its Secrets against the real API server (the in-process CaController with
// the RootPublisher, as main.ts wires them): a cacerts created while running reaches every
// namespace's istio-ca-root-cert beside the old root before it signs; a malformed edit is
// refused and changes nothing; deleting cacerts falls back to the self-signed root; a second
// replica publishes the same bundle from the shared record. A workload certificate of the old
// root verifies against the published bundle throughout, one of an unrelated CA never does.
import { X509Certificate } from 'node:crypto';
import { MeshCa } from '../../src/ca/authority.js';
import { CaController } from '../../src/ca/ca-controller.js';
import { createCsr } from '../../src/ca/csr.js';
import { RootPublisher } from '../../src/ca/root-publisher.js';
import { rootsOf } from '../../src/ca/trust-bundle.js';
import { loggerFor, setLogLevel } from '../../src/util/logger.js';
import { makePluginCa, opensslVerify } from '../support/ca-certs.js';
import { clusterAvailable, kube, testNamespace, waitFor } from '../support/cluster.js';
import { rest } from '../support/tokens.js';

setLogLevel('error');
const ns = testNamespace('ca-ctl');
const app = `${ns}-app`;
const label = { 'trellis-test/ca-ctl': ns };
const { kc, core } = kube();
const log = loggerFor('ca');
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const serials = (bundle: string): string[] => rootsOf(bundle).map((r) => new X509Certificate(r).serialNumber);
const serial = (pem: string): string => new X509Certificate(pem).serialNumber;
const running: Array<{ stop(): void }> = [];

function start(propagationMs: number): CaController {
  const ctl = new CaController({ kc, rest: rest(), namespace: ns, trustDomain: 'cluster.local', log, retainMs: 86_400_000, propagationMs });
  running.push(ctl);
  return ctl;
}

/** The root publisher as main.ts wires it, for this test's namespaces only. */
function publish(ctl: CaController): RootPublisher {
  const publisher = new RootPublisher({ kc, rootPem: ctl.bundle, log, namespaceSelector: `trellis-test/ca-ctl=${ns}` });
  ctl.listen({ onBundle: (b) => publisher.setRoot(b) });
  running.push(publisher);
  return publisher;
}

const published = async (): Promise<string> => (await core.readNamespacedConfigMap({ namespace: app, name: 'istio-ca-root-cert' }).catch(() => undefined))?.data?.['root-cert.pem'] ?? '';

async function leafOf(ctl: CaController): Promise<string[]> {
  const { csrPem } = createCsr(`spiffe://cluster.local/ns/${app}/sa/default`);
  return ctl.signer.sign(csrPem, { trustDomain: 'cluster.local', namespace: app, serviceAccount: 'default' }, 3600);
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespace({ body: { metadata: { name: app, labels: label } } });
});
afterAll(async () => {
  for (const r of running) r.stop();
  await Promise.all([ns, app].map((name) => core.deleteNamespace({ name }).catch(() => undefined)));
});

test('cacerts created, edited badly, deleted: the bundle leads, the CA follows, a bad Secret changes nothing', async () => {
  const a = start(1500);
  const first = await a.load();
  const publisher = publish(a);
  await Promise.all([a.watch(), publisher.start()]);
  await waitFor('the first root published', async () => (await published()) === first.rootPem);
  const oldLeaf = await leafOf(a);

  const p = makePluginCa();
  const data = { 'ca-cert.pem': b64(p.caCert), 'ca-key.pem': b64(p.caKey), 'root-cert.pem': b64(p.rootCert), 'cert-chain.pem': b64(p.certChain) };
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'cacerts' }, data } });
  await waitFor('both roots published', async () => JSON.stringify(serials(await published())) === JSON.stringify([serial(p.rootCert), serial(first.rootPem)]));
  // Trust first: the old CA still signs right after the new root is published...
  const bundle = await published();
  expect(opensslVerify(oldLeaf[0], bundle, []).ok).toBe(true);
  // ...then the new one, and its certificates verify against the same bundle.
  await waitFor('the plug-in CA signing', async () => serial((await leafOf(a)).at(-1)!) === serial(p.rootCert));
  const newLeaf = await leafOf(a);
  expect(opensslVerify(newLeaf[0], bundle, newLeaf.slice(1, -1)).ok).toBe(true);
  // An unrelated CA's certificate is not trusted for all that.
  const evilCa = await MeshCa.create({ trustDomain: 'cluster.local' });
  const { csrPem } = createCsr(`spiffe://cluster.local/ns/${app}/sa/default`);
  const evilLeaf = await evilCa.sign(csrPem, { trustDomain: 'cluster.local', namespace: app, serviceAccount: 'default' }, 3600);
  expect(opensslVerify(evilLeaf[0], bundle, []).ok).toBe(false);
  const evil = makePluginCa();

  // A second replica (or a restart) publishes the same bundle from the shared record.
  const b = start(1500);
  await b.load();
  expect(b.bundle).toBe(a.bundle);
  b.stop();

  // A malformed edit: refused, nothing changes.
  await core.patchNamespacedSecret({ namespace: ns, name: 'cacerts', body: [{ op: 'replace', path: '/data/ca-key.pem', value: b64(evil.caKey) }] });
  await new Promise((r) => setTimeout(r, 2000));
  expect(await published()).toBe(bundle);
  expect(serial((await leafOf(a)).at(-1)!)).toBe(serial(p.rootCert));

  // Deleted: back to the self-signed root, both roots trusted for now.
  await core.deleteNamespacedSecret({ namespace: ns, name: 'cacerts' });
  await waitFor('the self-signed root signing again', async () => serial((await leafOf(a)).at(-1)!) === serial(first.rootPem), 30_000);
  expect(serials(await published()).sort()).toEqual([serial(first.rootPem), serial(p.rootCert)].sort());
});
