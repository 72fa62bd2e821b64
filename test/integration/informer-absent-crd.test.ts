// An informer of a custom kind whose CRD is not installed, on the real API server: it counts as
// synced with no objects (so a control plane upgraded before `kubectl apply -f crds/` stays
// ready), keeps looking, and picks the objects up once the CRD exists; removing the CRD removes
// them.
import { ApiextensionsV1Api, CustomObjectsApi, type KubernetesObject } from '@kubernetes/client-node';
import { Informer } from '../../src/kube/informer.js';
import { loggerFor } from '../../src/util/logger.js';
import { setLogLevel } from '../../src/util/logger.js';
import { clusterAvailable, kube, testNamespace, waitFor } from '../support/cluster.js';

const group = 'informer-test.trellis.io';
const plural = `gadgets${Date.now().toString(36)}`;
const crdName = `${plural}.${group}`;
const ns = testNamespace('informer');
const { kc, core } = kube();
const crds = kc.makeApiClient(ApiextensionsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
let informer: Informer<KubernetesObject> | undefined;
const events: string[] = [];

beforeAll(async () => {
  setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error');
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
});

afterAll(async () => {
  informer?.stop();
  await crds.deleteCustomResourceDefinition({ name: crdName }).catch(() => undefined);
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('a kind without its CRD is synced and empty; its objects arrive once the CRD is applied, and leave with it', async () => {
  informer = new Informer<KubernetesObject>({ kc, path: `/apis/${group}/v1/${plural}`, log: loggerFor('test'), absentIsEmpty: true, maxBackoffMs: 500 });
  informer.on((type, obj) => events.push(`${type} ${obj.metadata?.name}`));
  await informer.start(); // resolves: the 404 counts as an empty collection
  expect(informer.hasSynced).toBe(true);
  expect(informer.list()).toEqual([]);

  await crds.createCustomResourceDefinition({
    body: {
      metadata: { name: crdName },
      spec: {
        group,
        names: { kind: 'Gadget', plural, singular: plural.slice(0, -1), listKind: 'GadgetList' },
        scope: 'Namespaced',
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } } }],
      },
    },
  });
  await waitFor('the CRD served', async () => custom.listNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural }).then(() => true, () => false));
  await custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural, body: { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'one' } } });
  await waitFor('the object in the informer', async () => informer!.get('one', ns));
  expect(events).toContain('add one');

  await crds.deleteCustomResourceDefinition({ name: crdName });
  await waitFor('the object gone with its CRD', async () => informer!.get('one', ns) === undefined, 60_000);
  expect(events).toContain('delete one');
});
