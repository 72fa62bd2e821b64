// Sidecar injection through the real API server: pods created in a namespace labelled
// trellis-injection=enabled (or istio-injection=enabled) get the init container and the proxy;
// the init container really installs the capture rules; other pods are untouched.
import https from 'node:https';
import path from 'node:path';
import { AdmissionregistrationV1Api, type V1Pod } from '@kubernetes/client-node';
import fs from 'node:fs';
import { clusterAvailable, ECHO_IMAGE, echoFrom, inPodNetwork, kube, kubectlPath, root, run, testNamespace, waitFor, clientPod } from '../support/cluster.js';
import { startControlPlane, type RunningControlPlane } from '../support/control-plane.js';

const meshed = testNamespace('inj-trellis');
const istio = testNamespace('inj-istio');
const plain = testNamespace('inj-plain');
const hookName = `trellis-sidecar-injector-${meshed}`;
const { kc, core } = kube();
const admission = kc.makeApiClient(AdmissionregistrationV1Api);
const kubectl = kubectlPath();
let cp: RunningControlPlane;

function echoPod(name: string, annotations: Record<string, string> = {}, labels: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name, annotations, labels: { app: name, ...labels } },
    spec: {
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'app',
          image: ECHO_IMAGE,
          env: [
            { name: 'ECHO_PORTS', value: '8080,9090' },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          ],
        },
      ],
    },
  };
}

const names = (p: V1Pod): string[] => [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].map((c) => c.name);

async function running(ns: string, name: string): Promise<V1Pod> {
  return waitFor(`${ns}/${name} running`, async () => {
    const p = await core.readNamespacedPod({ namespace: ns, name });
    return p.status?.phase === 'Running' && p.status.containerStatuses?.every((c) => c.state?.running) ? p : undefined;
  }, 120_000);
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  // The injected proxies get their certificate and configuration from this test's control plane.
  const mine = { 'trellis.io/control-plane': meshed };
  await core.createNamespace({ body: { metadata: { name: meshed, labels: { 'trellis-injection': 'enabled', ...mine } } } });
  await core.createNamespace({ body: { metadata: { name: istio, labels: { 'istio-injection': 'enabled', ...mine } } } });
  await core.createNamespace({ body: { metadata: { name: plain } } });
  cp = await startControlPlane({ namespace: meshed, validatingConfig: `trellis-validator-${meshed}`, mutatingConfig: hookName, podReachable: true });
  const only = { key: 'kubernetes.io/metadata.name', operator: 'In', values: [meshed, istio, plain] };
  const webhook = (label: string, extra: object[]): object => ({
    name: `${label}.sidecar-injector.trellis.io`,
    clientConfig: { url: `${cp.webhookUrl}/inject` },
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
    namespaceSelector: { matchExpressions: [{ key: label, operator: 'In', values: ['enabled'] }, only, ...extra] },
    objectSelector: {
      matchExpressions: [
        { key: 'sidecar.trellis.io/inject', operator: 'NotIn', values: ['false'] },
        { key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] },
      ],
    },
    failurePolicy: 'Fail',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    reinvocationPolicy: 'Never',
  });
  await admission.createMutatingWebhookConfiguration({
    body: { metadata: { name: hookName }, webhooks: [webhook('trellis-injection', []), webhook('istio-injection', [{ key: 'trellis-injection', operator: 'DoesNotExist' }])] as never },
  });
  await waitFor('caBundle', async () => (await admission.readMutatingWebhookConfiguration({ name: hookName })).webhooks?.every((w) => w.clientConfig.caBundle));
  await core.createNamespacedPod({ namespace: plain, body: clientPod(plain) as V1Pod });
});

afterAll(async () => {
  await admission.deleteMutatingWebhookConfiguration({ name: hookName }).catch(() => undefined);
  if (cp) await cp.stop();
  for (const ns of [meshed, istio, plain]) await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('a pod in a trellis-injection=enabled namespace gets the init container and the proxy', async () => {
  // The API server may take a moment to see the new configuration: retry until injected.
  const created = await waitFor('an injected pod', async () => {
    const p = await core.createNamespacedPod({ namespace: meshed, body: echoPod(`app-${Date.now()}`) });
    if (names(p).includes('trellis-proxy')) return p;
    await core.deleteNamespacedPod({ namespace: meshed, name: p.metadata!.name!, gracePeriodSeconds: 0 });
    return undefined;
  });
  expect(names(created)).toEqual(['trellis-init', 'trellis-proxy', 'app']);
  expect(created.metadata?.annotations?.['sidecar.trellis.io/status']).toBeDefined();
  const name = created.metadata!.name!;
  const pod = await running(meshed, name);
  expect(pod.status?.initContainerStatuses?.[0]).toMatchObject({ name: 'trellis-init', state: { terminated: { exitCode: 0 } } });
  // The init container really installed the capture rules in the pod's network namespace (read
  // from the node: no container of the pod may list them).
  const rules = await inPodNetwork(`${meshed}/${name}`, ['iptables-save', '-t', 'nat']);
  expect(rules.stdout).toContain('-A OUTPUT -p tcp -j TRELLIS_OUTPUT');
  expect(rules.stdout).toContain('-j REDIRECT --to-ports 15001');
});

test('istio-injection=enabled works the same (drop-in)', async () => {
  const p = await core.createNamespacedPod({ namespace: istio, body: echoPod('istio-labelled') });
  expect(names(p)).toEqual(['trellis-init', 'trellis-proxy', 'app']);
});

test('pods in an unlabelled namespace and pods that opt out are untouched', async () => {
  const p = await core.createNamespacedPod({ namespace: plain, body: echoPod('plain') });
  expect(names(p)).toEqual(['app']);
  const out = await core.createNamespacedPod({ namespace: meshed, body: echoPod('opted-out', {}, { 'sidecar.istio.io/inject': 'false' }) });
  expect(names(out)).toEqual(['app']);
});

test('an unusable annotation is refused by the webhook, naming it: the pod is not created outside the mesh', async () => {
  const manifest = path.join(root, '.devcluster', `bad-annotation-${meshed}.json`);
  fs.writeFileSync(manifest, JSON.stringify({ apiVersion: 'v1', kind: 'Pod', ...echoPod('bad-annotation', { 'traffic.sidecar.istio.io/excludeInboundPorts': 'http' }), metadata: { ...echoPod('bad-annotation').metadata, namespace: meshed, annotations: { 'traffic.sidecar.istio.io/excludeInboundPorts': 'http' } } }));
  const r = await run(kubectl, ['--kubeconfig', path.join(root, '.devcluster/kubeconfig'), 'create', '-f', manifest]);
  fs.rmSync(manifest);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('trellis: sidecar injection: annotation traffic.sidecar.istio.io/excludeInboundPorts: "http" is not a port (1-65535)');
  expect(await core.readNamespacedPod({ namespace: meshed, name: 'bad-annotation' }).catch(() => undefined)).toBeUndefined();
});

test('a port excluded by annotation is reached directly; a captured one is not', async () => {
  const p = await core.createNamespacedPod({ namespace: meshed, body: echoPod('excluded', { 'traffic.sidecar.istio.io/excludeInboundPorts': '8080' }) });
  expect(p.spec?.initContainers?.[0].args).toContain('--exclude-inbound-ports=8080');
  const pod = await running(meshed, 'excluded');
  await running(plain, 'client');
  // Connections that enter the inbound capture chain: the REDIRECT rule's packet counter (nat
  // rules see the first packet of each connection). Proxy ports (probes) never reach it.
  const redirected = async (): Promise<number> => {
    const r = await inPodNetwork(`${meshed}/excluded`, ['iptables-save', '-c', '-t', 'nat']);
    const m = /^\[(\d+):\d+\] -A TRELLIS_IN_REDIRECT -p tcp -j REDIRECT/m.exec(r.stdout);
    if (!m) throw new Error(`no inbound REDIRECT rule in:\n${r.stdout}`);
    return Number(m[1]);
  };
  const before = await redirected();
  const direct = await echoFrom(`${plain}/client`, `http://${pod.status?.podIP}:8080/`);
  expect(direct[0]).toMatchObject({ status: 200, pod: 'excluded' });
  expect(direct[0].headers?.['x-envoy-upstream-service-time']).toBeUndefined(); // no proxy on the way
  // 9090 is captured to the proxy's inbound port: no Service declares it, so the proxy passes it
  // through to the app, from 127.0.0.6 (its inbound bind address), not from the client.
  const afterDirect = await redirected();
  expect(afterDirect).toBe(before); // 8080 bypassed the capture chain
  const captured = await echoFrom(`${plain}/client`, `http://${pod.status?.podIP}:9090/`);
  expect(await redirected()).toBeGreaterThan(afterDirect); // 9090 was redirected to the proxy
  expect(captured[0]).toMatchObject({ status: 200, pod: 'excluded' });
  expect((captured[0].body as { remote?: string } | undefined)?.remote).toBe('127.0.0.6');
  expect((direct[0].body as { remote?: string } | undefined)?.remote).not.toBe('127.0.0.6');
});

test('a malformed AdmissionReview gets HTTP 400 with a message, and the server keeps serving', async () => {
  const post = (body: string): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = https.request(`${cp.webhookUrl}/inject`, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  expect(await post('{not json')).toMatchObject({ status: 400, text: expect.stringContaining('bad AdmissionReview: body is not JSON') });
  expect(await post('{"kind":"Pod"}')).toMatchObject({ status: 400, text: expect.stringContaining('not an AdmissionReview') });
  expect((await fetch(`${cp.monitoring}/ready`)).status).toBe(200);
});
