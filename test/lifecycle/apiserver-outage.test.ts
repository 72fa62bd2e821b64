// Watches survive the API server: restarting it loses no update, and a watch that stops
// delivering without an error (the server frozen) is detected and replaced. Runs in the
// lifecycle project, alone, because it takes the API server away from everyone.
import fs from 'node:fs';
import path from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { devcluster, kube, root, run, testNamespace, waitFor } from '../support/cluster.js';
import { startControlPlane, type RunningControlPlane } from '../support/control-plane.js';

const ns = testNamespace('outage');
const { kc, core } = kube();
const custom = kc.makeApiClient(CustomObjectsApi);
const versions = fs.readFileSync(path.join(root, 'tools/devcluster/versions.env'), 'utf8');
const kubectl = path.join(root, `.devcluster/cache/kubernetes-${/^KUBE_VERSION=(\S+)/m.exec(versions)![1]}/kubectl`);
const apiserverPid = (): number => Number(fs.readFileSync(path.join(root, '.devcluster/run/kube-apiserver.pid'), 'utf8'));
let cp: RunningControlPlane;

function vs(name: string, weight: number): object {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace: ns },
    spec: { hosts: [name], http: [{ route: [{ destination: { host: name, subset: 'a' }, weight }, { destination: { host: name, subset: 'b' }, weight: 100 - weight }] }] },
  };
}

async function generationInModel(name: string): Promise<number | undefined> {
  return (await cp.configz()).find((c) => c.namespace === ns && c.name === name)?.generation;
}

/** Retries an API call until the API server answers. */
function whenUp<T>(what: string, fn: () => Promise<T>): Promise<T> {
  return waitFor(what, async () => fn(), 120_000, 200);
}

beforeAll(async () => {
  await run(kubectl, ['--kubeconfig', path.join(root, '.devcluster/kubeconfig'), 'apply', '--server-side', '--force-conflicts', '-f', path.join(root, 'crds')]);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  cp = await startControlPlane({ namespace: ns, validatingConfig: `trellis-validator-${ns}`, extraArgs: ['--watch-stall-seconds', '4'] });
  for (const name of ['changed', 'deleted']) {
    await custom.createNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns, plural: 'virtualservices', body: vs(name, 50) });
  }
  await waitFor('both in the model', async () => (await generationInModel('changed')) === 1 && (await generationInModel('deleted')) === 1);
});

afterAll(async () => {
  if (cp) await cp.stop();
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('restarting the API server loses no update: changes made right after it returns reach the model', async () => {
  const pid = apiserverPid();
  process.kill(pid, 'SIGKILL');
  await waitFor('the API server to die', async () => !fs.existsSync(`/proc/${pid}`) || fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] === 'Z');
  const up = await run(devcluster, ['up'], { timeoutMs: 300_000 });
  expect(up.code).toBe(0);
  expect(up.stderr).toContain('restarting stopped components: kube-apiserver');
  // Change and delete while the control plane's watches are still reconnecting.
  await whenUp('patch', () =>
    custom.patchNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns, plural: 'virtualservices', name: 'changed', body: [{ op: 'replace', path: '/spec/http/0/route/0/weight', value: 70 }, { op: 'replace', path: '/spec/http/0/route/1/weight', value: 30 }] }),
  );
  await whenUp('delete', () => custom.deleteNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns, plural: 'virtualservices', name: 'deleted' }));
  await whenUp('create', () => custom.createNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns, plural: 'virtualservices', body: vs('created', 10) }));
  await waitFor('the model to catch up', async () => (await generationInModel('changed')) === 2 && (await generationInModel('deleted')) === undefined && (await generationInModel('created')) === 1);
});

test('a watch that stops delivering without an error is replaced, and nothing is missed', async () => {
  const pid = apiserverPid();
  process.kill(pid, 'SIGSTOP'); // connections stay open; nothing arrives on them
  try {
    await waitFor('the stall to be detected', async () => cp.logs().includes('watch delivered nothing for too long; replacing it'), 60_000);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  await whenUp('patch', () =>
    custom.patchNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns, plural: 'virtualservices', name: 'created', body: [{ op: 'replace', path: '/spec/http/0/route/0/weight', value: 20 }, { op: 'replace', path: '/spec/http/0/route/1/weight', value: 80 }] }),
  );
  await waitFor('the model to see the change', async () => (await generationInModel('created')) === 2);
});
