// The mesh root reaches every namespace as the ConfigMap istio-ca-root-cert and stays there: a
// new namespace gets it, a deleted or edited one is put back, a namespace being deleted is left
// alone. The publisher here only sees namespaces with this test's label, so it does not touch
// the rest of the shared cluster.
import { MeshCa } from '../../src/ca/authority.js';
import { RootPublisher, rootConfigMapWrites } from '../../src/ca/root-publisher.js';
import { loggerFor, setLogLevel } from '../../src/util/logger.js';
import { clusterAvailable, kube, testNamespace, waitFor } from '../support/cluster.js';

setLogLevel('error');
const run = testNamespace('ca-root');
const label = { 'trellis-test/ca-root': run };
const { kc, core } = kube();
const created: string[] = [];
let ca: MeshCa;
let publisher: RootPublisher;

async function newNamespace(suffix: string): Promise<string> {
  const name = `${run}-${suffix}`;
  await core.createNamespace({ body: { metadata: { name, labels: label } } });
  created.push(name);
  return name;
}

const readRoot = (ns: string): Promise<{ data?: Record<string, string>; labels?: Record<string, string> } | undefined> =>
  core.readNamespacedConfigMap({ namespace: ns, name: 'istio-ca-root-cert' }).then(
    (cm) => ({ data: cm.data, labels: cm.metadata?.labels }),
    () => undefined,
  );

const published = (ns: string): Promise<true | undefined> => readRoot(ns).then((cm) => (cm?.data?.['root-cert.pem'] === ca.rootPem && cm.labels?.['istio.io/config'] === 'true') || undefined);

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  ca = await MeshCa.create({ trustDomain: 'cluster.local' });
  await newNamespace('existing');
  publisher = new RootPublisher({ kc, rootPem: ca.rootPem, log: loggerFor('ca-root'), namespaceSelector: `trellis-test/ca-root=${run}` });
  await publisher.start();
});
afterAll(async () => {
  publisher?.stop();
  await Promise.all(created.map((name) => core.deleteNamespace({ name }).catch(() => undefined)));
});

test('a namespace that existed before the start gets the root', async () => {
  await waitFor('the root in the existing namespace', () => published(`${run}-existing`));
});

test('a new namespace gets the root, with Istio\'s label', async () => {
  const ns = await newNamespace('new');
  await waitFor('the root in the new namespace', () => published(ns));
  const cm = await readRoot(ns);
  expect(Object.keys(cm?.data ?? {})).toEqual(['root-cert.pem']);
});

test('a deleted root ConfigMap is recreated', async () => {
  const ns = await newNamespace('deleted');
  await waitFor('the root', () => published(ns));
  await core.deleteNamespacedConfigMap({ namespace: ns, name: 'istio-ca-root-cert' });
  await waitFor('the root to be back', () => published(ns));
});

test('attack: a root ConfigMap replaced with another CA is put back', async () => {
  const ns = await newNamespace('edited');
  await waitFor('the root', () => published(ns));
  const impostor = (await MeshCa.create({ trustDomain: 'cluster.local' })).rootPem;
  await core.patchNamespacedConfigMap({ namespace: ns, name: 'istio-ca-root-cert', body: [{ op: 'replace', path: '/data/root-cert.pem', value: impostor }] });
  await waitFor('the real root to be back', () => published(ns));
  // The label too.
  await core.patchNamespacedConfigMap({ namespace: ns, name: 'istio-ca-root-cert', body: [{ op: 'remove', path: '/metadata/labels' }] });
  await waitFor('the label to be back', () => published(ns));
});

test('a namespace being deleted is left alone', async () => {
  const ns = await newNamespace('terminating');
  await waitFor('the root', () => published(ns));
  // A finalizer on another object holds the namespace in Terminating while its content goes.
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'hold', finalizers: ['trellis-test/hold'] } } });
  const writes = async (): Promise<number> => (await rootConfigMapWrites.get()).values.find((v) => v.labels.action === 'created')?.value ?? 0;
  await core.deleteNamespace({ name: ns });
  await waitFor('the namespace controller to remove the root', async () => (await readRoot(ns)) === undefined || undefined);
  const before = await writes();
  await new Promise((r) => setTimeout(r, 2000));
  expect(await readRoot(ns)).toBeUndefined();
  expect(await writes()).toBe(before);
  expect((await core.readNamespace({ name: ns })).status?.phase).toBe('Terminating');
  await core.patchNamespacedConfigMap({ namespace: ns, name: 'hold', body: [{ op: 'remove', path: '/metadata/finalizers' }] });
  await waitFor('the namespace to be gone', () => core.readNamespace({ name: ns }).then(() => undefined, () => true), 120_000);
});

test('a namespace without the selector\'s label is not touched', async () => {
  const name = `${run}-other`;
  await core.createNamespace({ body: { metadata: { name } } });
  created.push(name);
  await new Promise((r) => setTimeout(r, 2000));
  const cm = await readRoot(name);
  expect(cm?.data?.['root-cert.pem']).not.toBe(ca.rootPem);
});
