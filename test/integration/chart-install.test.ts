// The chart on the real cluster: `helm install` into a fresh namespace (never trellis-system,
// which the e2e suite uses) → the control plane is Ready and owns its webhooks' caBundle; its
// ingress gateway (a real Envoy) connects, and `trellisctl proxy-status` shows it synced;
// `helm upgrade` scales it; `helm uninstall` leaves nothing of the release (CRDs stay: Helm's
// rule). Injection is pointed at a label no namespace has, so this release never injects (or
// blocks, failurePolicy Fail) pods of other tests.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CustomObjectsApi, PolicyV1Api } from '@kubernetes/client-node';
import { clusterAvailable, IMAGE_TAG, kube, kubeconfigPath, PROXY_IMAGE, root, run, testNamespace, waitFor } from '../support/cluster.js';
import { chartDir, helm, parse, template } from '../fixtures/chart/chart.js';
import { debugReaderToken, removeDebugReader } from '../support/tokens.js';
import { bootstrap, Envoy } from '../support/envoy.js';

const versions = fs.readFileSync(path.join(root, 'tools/devcluster/versions.env'), 'utf8');
const kubectl = process.env.KUBECTL ?? path.join(root, `.devcluster/cache/kubernetes-${/^KUBE_VERSION=(\S+)/m.exec(versions)?.[1]}/kubectl`);
const ns = testNamespace('chart');
const release = 'trellis-chart';
// A second install beside the e2e suite's: its mesh root only in namespaces labelled for it, and
// plaintext xDS on for the bare Envoy below (a sidecar without a pod token).
const values = [
  '--set',
  `webhooks.injection.namespaceLabels={${ns}-injection}`,
  '--set',
  'gateway.enabled=true',
  '--set',
  'gateway.serviceType=ClusterIP',
  '--set',
  `rootCertNamespaces=trellis.io/control-plane=${ns}`,
  '--set',
  'plaintextXds=true',
  // The images the node has (make images): nothing can be pulled.
  '--set',
  `image.tag=${IMAGE_TAG}`,
  '--set',
  `proxy.image=${PROXY_IMAGE}`,
];
const { kc, core, apps } = kube();
const policy = kc.makeApiClient(PolicyV1Api);
const admission = kc.makeApiClient(CustomObjectsApi);
const cli = path.join(root, 'dist/src/cli/main.js');

const helmRun = (args: string[]): ReturnType<typeof run> => run(helm, [...args, '--kubeconfig', kubeconfigPath], { timeoutMs: 240_000 });
const k = (args: string[]): ReturnType<typeof run> => run(kubectl, ['--kubeconfig', kubeconfigPath, ...args]);
let controlPlane = '';

async function caBundles(kind: 'mutatingwebhookconfigurations' | 'validatingwebhookconfigurations', name: string): Promise<string[]> {
  const cfg = (await admission.getClusterCustomObject({ group: 'admissionregistration.k8s.io', version: 'v1', plural: kind, name })) as { webhooks: { clientConfig: { caBundle?: string } }[] };
  return cfg.webhooks.map((w) => w.clientConfig.caBundle ?? '');
}

const webhooksHaveCa = async (): Promise<boolean> => {
  const all = [...(await caBundles('mutatingwebhookconfigurations', `trellis-sidecar-injector-${ns}`)), ...(await caBundles('validatingwebhookconfigurations', `trellis-validator-${ns}`))];
  return all.length > 0 && all.every((b) => Buffer.from(b, 'base64').toString().startsWith('-----BEGIN CERTIFICATE-----'));
};

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  // Labelled as this install's: it publishes its root here, and the e2e suite's install does not.
  await core.createNamespace({ body: { metadata: { name: ns, labels: { 'trellis.io/control-plane': ns } } } });
});

afterAll(async () => {
  await helmRun(['uninstall', release, '--namespace', ns, '--wait']);
  await k(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
});

test('helm install: the control plane becomes Ready, writes its webhooks caBundle, and NOTES tell what to do next', async () => {
  const r = await helmRun(['install', release, chartDir, '--namespace', ns, '--create-namespace', '--wait', '--timeout', '3m', ...values]);
  expect({ code: r.code, stderr: r.stderr.replace(/^walk\.go.*symbolic link.*\n/gm, '') }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toContain(`Trellis 0.1.0 is installed in namespace ${ns}`);
  expect(r.stdout).toContain(`kubectl label namespace NAMESPACE ${ns}-injection=enabled`);
  expect(r.stdout).toContain('kubectl apply -f');
  expect(r.stdout).toContain(`http://trellis.${ns}.svc:15014/metrics`);
  const dep = await apps.readNamespacedDeployment({ name: 'trellis', namespace: ns });
  expect(dep.status?.readyReplicas).toBe(1);
  const svc = await core.readNamespacedService({ name: 'trellis', namespace: ns });
  controlPlane = `http://${svc.spec?.clusterIP}:15014`;
  expect((await fetch(`${controlPlane}/ready`)).status).toBe(200);
  await waitFor('the caBundle in both webhook configurations', webhooksHaveCa, 30_000);
  // The certificates went into the Secret the chart owns.
  const secret = await core.readNamespacedSecret({ name: 'trellis-webhook-tls', namespace: ns });
  expect(Object.keys(secret.data ?? {}).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
});

test('trellisctl against the running control plane: proxy-status shows the gateway and a sidecar Envoy synced; proxy-config shows what Trellis gives it', async () => {
  const gatewayPod = await waitFor('the ingress gateway to be Ready', async () => {
    const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=trellis-ingressgateway,istio=ingressgateway' })).items;
    return pods.find((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))?.metadata?.name;
  });
  // A real Envoy on the host as the sidecar of a pod "probe-0", on the chart's xDS Service.
  const svc = await core.readNamespacedService({ name: 'trellis', namespace: ns });
  const config = bootstrap({ nodeId: `sidecar~10.244.0.250~probe-0.${ns}~${ns}.svc.cluster.local`, xdsPort: 15010, metadata: {} });
  const xds = (config.static_resources as { clusters: { load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[] } }[] }).clusters[0];
  xds.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address = svc.spec!.clusterIP!;
  (config.node as { metadata: unknown }).metadata = { NAMESPACE: ns, NAME: 'probe-0', LABELS: { app: 'probe' } };
  const envoy = await Envoy.start(config);
  try {
    // The debug pages answer a token allowed to get services/proxy on this install's Service.
    const tokenFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'trellisctl-')), 'token');
    fs.writeFileSync(tokenFile, await debugReaderToken(ns, 'reader', ns));
    const ctl = (...args: string[]): ReturnType<typeof run> => run(process.execPath, [cli, ...args, '--control-plane', controlPlane, '--token-file', tokenFile]);
    const table = await waitFor('proxy-status to show the sidecar synced on every type', async () => {
      const r = await ctl('proxy-status');
      if (r.code !== 0) throw new Error(r.stderr);
      const lines = r.stdout.split('\n').map((l) => l.split(/\s{2,}/));
      const probe = lines.find((c) => c[0] === `probe-0.${ns}`);
      // NAME TYPE AGENT CDS LDS EDS RDS: every type ACKed at some version, with resources.
      return probe && probe.slice(3, 7).every((c) => /^\S+ \(\d+\)$/.test(c)) ? lines : undefined;
    });
    expect(table[0]).toEqual(['NAME', 'TYPE', 'AGENT', 'CDS', 'LDS', 'EDS', 'RDS', 'LAST NACK']);
    expect(table.find((c) => c[0] === `probe-0.${ns}`)?.slice(1, 3)).toEqual(['sidecar', 'envoy/1.36.4']);
    const gateway = table.find((c) => c[0] === `${gatewayPod}.${ns}`);
    expect(gateway?.slice(1, 4)).toEqual(['router', 'envoy/1.36.4', expect.stringMatching(/^\S+ \(\d+\)/)]);

    const clusters = await ctl('proxy-config', 'clusters', 'probe-0', '-n', ns);
    expect(clusters.stderr).toBe('');
    expect(clusters.stdout).toMatch(new RegExp(`^trellis\\.${ns}\\.svc\\.cluster\\.local +15010 +- +outbound +EDS`, 'm'));
    const listeners = await ctl('proxy-config', 'listeners', `probe-0.${ns}`);
    expect(listeners.stdout).toMatch(/^virtualOutbound +0\.0\.0\.0 +15001 \(original dst\)/m);
    expect(listeners.stdout).toMatch(/^0\.0\.0\.0_15010 +0\.0\.0\.0 +15010 +\d+ +Route: 15010$/m);
    const routes = await ctl('proxy-config', 'routes', 'probe-0', '-n', ns);
    expect(routes.stdout).toMatch(new RegExp(`^15010 +trellis\\.${ns}\\.svc\\.cluster\\.local:15010 .* outbound\\|15010\\|\\|trellis\\.${ns}\\.svc\\.cluster\\.local$`, 'm'));
    const pod = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/name=trellis' })).items[0];
    const endpoints = await ctl('proxy-config', 'endpoints', 'probe-0', '-n', ns);
    expect(endpoints.stdout).toContain(`${pod.status?.podIP}:15010`);
    // -o json: the raw resources, as the control plane gives them.
    const raw = JSON.parse((await ctl('proxy-config', 'clusters', 'probe-0', '-n', ns, '-o', 'json')).stdout) as { name: string }[];
    expect(raw.map((c) => c.name)).toContain(`outbound|15010||trellis.${ns}.svc.cluster.local`);
  } finally {
    await envoy.stop();
    await removeDebugReader(ns, 'reader', ns);
  }
});

test('helm upgrade: two replicas, both Ready; the budget becomes minAvailable 1; the caBundle stays', async () => {
  const r = await helmRun(['upgrade', release, chartDir, '--namespace', ns, '--wait', '--timeout', '3m', ...values, '--set', 'replicas=2']);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('REVISION: 2');
  const dep = await apps.readNamespacedDeployment({ name: 'trellis', namespace: ns });
  expect(dep.status?.readyReplicas).toBe(2);
  const pdb = await policy.readNamespacedPodDisruptionBudget({ name: 'trellis', namespace: ns });
  expect(pdb.spec?.minAvailable).toBe(1);
  expect(pdb.spec?.maxUnavailable).toBeUndefined();
  await waitFor('the caBundle after the upgrade', webhooksHaveCa, 30_000);
  const secret = await core.readNamespacedSecret({ name: 'trellis-webhook-tls', namespace: ns });
  expect(Object.keys(secret.data ?? {}).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
});

test('helm uninstall leaves no object of the release behind, except the CRDs and the mesh root', async () => {
  // What the chart creates, from the chart itself.
  const rendered = parse(await template(values, { release, namespace: ns }));
  const clusterScoped = rendered.filter((d) => !d.metadata.namespace).map((d) => [d.kind, d.metadata.name]);
  expect(clusterScoped.map(([kind]) => kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
  const r = await helmRun(['uninstall', release, '--namespace', ns, '--wait', '--timeout', '3m']);
  expect(r.code).toBe(0);
  for (const [kind, name] of clusterScoped) {
    const got = await k(['get', kind, name, '-o', 'name', '--ignore-not-found']);
    expect({ kind, name, left: got.stdout.trim() }).toEqual({ kind, name, left: '' });
  }
  // Every namespaced kind the API server lists, in the release namespace: only what every
  // namespace has (the default ServiceAccount, the root CA ConfigMaps) and Events remain, and
  // the mesh CA's root Secret, as Istio keeps istio-ca-secret: a reinstall signs with the same
  // root, so the certificates workloads hold stay valid; and, for the same reason, the record of
  // the previous roots still trusted after a root change (trellis-ca-roots).
  await waitFor('the release pods to be gone', async () => (await core.listNamespacedPod({ namespace: ns })).items.length === 0, 60_000);
  const kinds = (await k(['api-resources', '--verbs=list', '--namespaced', '-o', 'name'])).stdout.split('\n').filter(Boolean);
  const left = await k(['get', kinds.join(','), '--namespace', ns, '-o', 'name', '--ignore-not-found']);
  expect(left.code).toBe(0);
  const objects = left.stdout
    .split('\n')
    .filter(Boolean)
    .filter((o) => !/^events?(\.events\.k8s\.io)?\//.test(o) && !['serviceaccount/default', 'configmap/kube-root-ca.crt', 'configmap/istio-ca-root-cert', 'secret/istio-ca-secret', 'secret/trellis-ca-roots'].includes(o));
  expect(objects).toEqual([]);
  // The CRDs stay (Helm never deletes what it installed from crds/).
  const crds = await k(['get', 'crd', 'virtualservices.networking.istio.io', '-o', 'name']);
  expect(crds.stdout.trim()).toBe('customresourcedefinition.apiextensions.k8s.io/virtualservices.networking.istio.io');
});
