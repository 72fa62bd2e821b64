// Outbound traffic policy REGISTRY_ONLY, end to end with a real sidecar: a control plane run
// with it blocks a destination that is neither a Service nor a ServiceEntry, lets Services
// through, and lets a host through once a ServiceEntry names it.
import { applyAll, clusterAvailable, createInjectedClient, createIstioObject, echoDeployment, echoFrom, kube, readyPodOf, testNamespace, waitFor } from '../support/cluster.js';
import { startControlPlane, type RunningControlPlane } from '../support/control-plane.js';

const ns = testNamespace('registry');
const { core } = kube();
let cp: RunningControlPlane;


beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns, labels: { 'trellis.io/control-plane': ns } } } });
  cp = await startControlPlane({ namespace: ns, validatingConfig: `trellis-validator-${ns}`, extraArgs: ['--outbound-traffic-policy', 'REGISTRY_ONLY'], podReachable: true });
  await applyAll([
    echoDeployment(ns, 'known', 1),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'known', namespace: ns }, spec: { selector: { app: 'known' }, ports: [{ name: 'http', port: 8080 }] } } as never,
    echoDeployment(ns, 'unknown', 1), // no Service
  ]);
  // The client gets a sidecar pointed at this control plane (the webhook's own code).
  await createInjectedClient(ns, cp.discoveryAddress);
});

afterAll(async () => {
  if (cp) await cp.stop();
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('Services pass, an unknown destination is blocked, a ServiceEntry host passes', async () => {
  const unknown = await readyPodOf(ns, 'unknown');
  await readyPodOf(ns, 'client', 120_000); // the client and its sidecar
  const client = `${ns}/client`;
  const known = await waitFor('the Service through the sidecar', async () => {
    const [r] = await echoFrom(client, 'http://known:8080/', 1);
    return r?.status === 200 ? r : undefined;
  }, 60_000);
  expect(known.headers?.['x-envoy-upstream-service-time']).toBeDefined();
  // Neither a Service nor a ServiceEntry: the sidecar refuses (ALLOW_ANY would pass it through).
  const [blocked] = await echoFrom(client, `http://${unknown.status?.podIP}:8080/`, 1);
  expect(blocked.status).toBe(502);
  expect(blocked.pod).toBeUndefined();
  await createIstioObject(ns, 'ServiceEntry', 'legacy', { hosts: ['legacy.example.internal'], addresses: ['240.240.0.20'], ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 }], location: 'MESH_EXTERNAL', resolution: 'STATIC', endpoints: [{ address: unknown.status!.podIP! }] });
  const allowed = await waitFor('the ServiceEntry host', async () => {
    const [r] = await echoFrom(client, 'http://240.240.0.20/', 1, ['host: legacy.example.internal']);
    return r?.status === 200 ? r : undefined;
  }, 30_000);
  expect(allowed.pod).toBe(unknown.metadata?.name);
});
