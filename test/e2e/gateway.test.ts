// An ingress gateway: a router-mode proxy selected by a Gateway, serving the VirtualServices
// bound to it (Istio's "ingress gateways" task: exact and prefix URI matches to a service port).
import type { V1Pod } from '@kubernetes/client-node';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { installTrellis } from '../support/install.js';
import { applyAll, clientPod, clusterAvailable, echoDeployment, echoFrom, kube, testNamespace, waitFor } from '../support/cluster.js';

const ns = testNamespace('gw');
const { kc, core } = kube();
const custom = kc.makeApiClient(CustomObjectsApi);
const selector = { app: `gw-${ns}` }; // unique: no other gateway pod matches

function gatewayPod(): V1Pod {
  return {
    metadata: { name: 'ingress', namespace: ns, labels: selector },
    spec: {
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'proxy',
          image: 'trellis/proxy',
          securityContext: { runAsUser: 1337, runAsGroup: 1337 },
          env: [
            { name: 'TRELLIS_PROXY_TYPE', value: 'router' },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'INSTANCE_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'TRELLIS_DISCOVERY_ADDRESS', value: 'trellis.trellis-system.svc:15010' },
          ],
          readinessProbe: { httpGet: { path: '/healthz/ready', port: 15021 }, periodSeconds: 1 },
          volumeMounts: [
            { name: 'proxy-config', mountPath: '/etc/trellis/proxy' },
            { name: 'podinfo', mountPath: '/etc/trellis/pod' },
          ],
        },
      ],
      volumes: [
        { name: 'proxy-config', emptyDir: {} },
        { name: 'podinfo', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
      ],
    },
  };
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await installTrellis();
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await applyAll([
    echoDeployment(ns, 'httpbin', 1),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'httpbin', namespace: ns }, spec: { selector: { app: 'httpbin' }, ports: [{ name: 'http', port: 8000, targetPort: 8080 }] } } as never,
    clientPod(ns),
  ]);
  await core.createNamespacedPod({ namespace: ns, body: gatewayPod() });
  const obj = (kind: string, plural: string, name: string, spec: object): Promise<unknown> =>
    custom.createNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns, plural, body: { apiVersion: 'networking.istio.io/v1', kind, metadata: { name }, spec } });
  await obj('Gateway', 'gateways', 'httpbin-gateway', { selector, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['httpbin.example.com'] }] });
  await obj('VirtualService', 'virtualservices', 'httpbin', {
    hosts: ['httpbin.example.com'],
    gateways: ['httpbin-gateway'],
    http: [{ match: [{ uri: { prefix: '/status' } }, { uri: { exact: '/delay' } }], route: [{ destination: { port: { number: 8000 }, host: 'httpbin' } }] }],
  });
});

afterAll(() => core.deleteNamespace({ name: ns }).catch(() => undefined));

test('the gateway routes exact and prefix URI matches of the bound VirtualService to the service port', async () => {
  const gw = await waitFor('the gateway pod ready', async () => {
    const p = await core.readNamespacedPod({ namespace: ns, name: 'ingress' });
    return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
  }, 120_000);
  await waitFor('the client pod', async () => (await core.readNamespacedPod({ namespace: ns, name: 'client' })).status?.phase === 'Running');
  const url = `http://${gw.status?.podIP}:80`;
  const host = ['host: httpbin.example.com'];
  const ok = await waitFor('the route', async () => {
    const [r] = await echoFrom(`${ns}/client`, `${url}/status/200`, 1, host);
    return r?.status === 200 ? r : undefined;
  }, 60_000);
  expect(ok.body?.path).toBe('/status/200');
  expect(ok.pod).toMatch(/^httpbin-/);
  expect((await echoFrom(`${ns}/client`, `${url}/delay`, 1, host))[0].status).toBe(200);
  // Not matched by the VirtualService, or another host: Envoy answers 404.
  expect((await echoFrom(`${ns}/client`, `${url}/headers`, 1, host))[0].status).toBe(404);
  expect((await echoFrom(`${ns}/client`, `${url}/status/200`, 1, ['host: other.example.com']))[0].status).toBe(404);
});
