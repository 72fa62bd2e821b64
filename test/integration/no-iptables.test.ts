// A pod without iptables capture (`sidecar.istio.io/interceptionMode: NONE`) with Istio's example
// Sidecar for it, end to end with real sidecars: the injector adds no capture (no init container,
// no NET_ADMIN); the proxy binds the ingress port on the pod's address for its peers and the
// egress port on 127.0.0.1 for its app. A meshed client reaches the app over mTLS through the
// bound port; the app, listening on loopback only, calls 127.0.0.1:<port> and is routed to the
// service. Without capture the bound port is the only way in, and STRICT mTLS holds there: a
// client without a sidecar is refused.
import type { V1Pod } from '@kubernetes/client-node';
import { INIT_NAME, injectPod, PROXY_NAME } from '../../src/webhooks/inject.js';
import { applyAll, applyIstioObject, clusterAvailable, createInjectedClient, echoDeployment, echoFrom, inPodNetwork, kube, PROXY_IMAGE, readyPodOf, testNamespace, waitFor, type EchoReply } from '../support/cluster.js';
import { startControlPlane, type RunningControlPlane } from '../support/control-plane.js';

const ns = testNamespace('noiptables');
const { core } = kube();
let cp: RunningControlPlane;
let server: V1Pod;
let backend: V1Pod;

const service = (name: string, app: string, port: number, targetPort: number): never =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector: { app }, ports: [{ name: 'http', port, targetPort }] } }) as never;

/** The echo app as a pod without capture: it listens on 127.0.0.1:8080 only, behind its sidecar. */
function serverPod(): V1Pod {
  const template = (echoDeployment(ns, 'server', 1, {}, { env: [{ name: 'ECHO_ADDRESS', value: '127.0.0.1' }, { name: 'ECHO_GRPC_PORT', value: '0' }] }) as { spec: { template: V1Pod } }).spec.template;
  const pod: V1Pod = { metadata: { ...template.metadata, name: 'server', namespace: ns, annotations: { 'sidecar.istio.io/interceptionMode': 'NONE' } }, spec: template.spec };
  const result = injectPod(pod, { proxyImage: PROXY_IMAGE, discoveryAddress: cp.discoveryAddress, proxyUid: 1337, clusterDomain: 'cluster.local' });
  if (!('injected' in result)) throw new Error(`not injected: ${JSON.stringify(result)}`);
  return result.injected;
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns, labels: { 'trellis.io/control-plane': ns } } } });
  cp = await startControlPlane({ namespace: ns, validatingConfig: `trellis-validator-${ns}`, podReachable: true });
  await applyAll([echoDeployment(ns, 'backend', 1), service('backend', 'backend', 7000, 8080), service('server', 'server', 9080, 9080)]);
  // Istio's example for a workload without iptables: the ingress port bound for peers, forwarded
  // to the app on loopback; the egress port bound on 127.0.0.1 for the app.
  await applyIstioObject(ns, 'Sidecar', 'no-ip-tables', {
    workloadSelector: { labels: { app: 'server' } },
    ingress: [{ port: { number: 9080, protocol: 'HTTP', name: 'http' }, defaultEndpoint: '127.0.0.1:8080' }],
    egress: [{ port: { number: 7000, protocol: 'HTTP', name: 'http' }, hosts: [`./backend.${ns}.svc.cluster.local`] }],
  });
  // The client's own scope: this namespace only.
  await applyIstioObject(ns, 'Sidecar', 'default', { egress: [{ hosts: ['./*'] }] });
  await core.createNamespacedPod({ namespace: ns, body: serverPod() });
  await createInjectedClient(ns, cp.discoveryAddress);
  backend = await readyPodOf(ns, 'backend', 120_000);
  server = await readyPodOf(ns, 'server', 120_000);
  await readyPodOf(ns, 'client', 120_000); // the client and its sidecar
}, 300_000);

afterAll(async () => {
  if (cp) await cp.stop();
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('the pod has its proxy and no capture: no init container, no capture rules in its network', async () => {
  const names = (server.spec?.initContainers ?? []).map((c) => c.name);
  expect(names).toEqual([PROXY_NAME]);
  expect(names).not.toContain(INIT_NAME);
  const nat = async (pod: string): Promise<string> => (await inPodNetwork(`${ns}/${pod}`, ['iptables-save', '-t', 'nat'])).stdout;
  expect(await nat('server')).not.toContain('TRELLIS_');
  // The captured client beside it has them (the check can tell).
  expect(await nat('client')).toContain('TRELLIS_INBOUND');
});

test('a meshed client reaches the app through the bound port, over mTLS with its identity', async () => {
  const reply = await waitFor('the server through its bound port', async () => {
    const [r] = await echoFrom(`${ns}/client`, `http://server.${ns}.svc.cluster.local:9080/`);
    return r?.status === 200 ? r : undefined;
  }, 60_000);
  expect(reply.pod).toBe('server');
  // The server's proxy terminated the client's mTLS and forwarded its identity.
  expect(reply.body?.headers?.['x-forwarded-client-cert']).toContain(`URI=spiffe://cluster.local/ns/${ns}/sa/default`);
});

test('the app calls 127.0.0.1:<port> and its proxy routes it to the service', async () => {
  const reply: EchoReply = await waitFor('the backend through the bound egress port', async () => {
    const [r] = await echoFrom(`${ns}/server`, 'http://127.0.0.1:7000/', 1, [`Host: backend.${ns}.svc.cluster.local:7000`]);
    return r?.status === 200 ? r : undefined;
  }, 60_000);
  expect(reply.pod).toMatch(/^backend-/);
  expect(reply.headers?.['x-envoy-upstream-service-time']).toBeDefined();
  // Bound on loopback: another pod cannot call through it with the server's identity.
  const [fromOutside] = await echoFrom(`${ns}/${backend.metadata?.name}`, `http://${server.status?.podIP}:7000/`, 1, [`Host: backend.${ns}.svc.cluster.local:7000`]);
  expect(fromOutside?.error).toMatch(/ECONNREFUSED/);
});

test('under STRICT mTLS, a client without a sidecar is refused at the bound port; the app itself is not reachable from outside', async () => {
  const plain = (port: number) => echoFrom(`${ns}/${backend.metadata?.name}`, `http://${server.status?.podIP}:${port}/`);
  // PERMISSIVE first: plaintext is let in, so the refusal below is STRICT's doing.
  const before = await waitFor('plaintext let in under PERMISSIVE', async () => {
    const [r] = await plain(9080);
    return r?.status === 200 ? r : undefined;
  }, 60_000);
  expect(before.pod).toBe('server');
  expect((await plain(8080))[0]?.error).toMatch(/ECONNREFUSED/);

  await applyIstioObject(ns, 'PeerAuthentication', 'default', { mtls: { mode: 'STRICT' } });
  const refused = await waitFor('plaintext refused under STRICT', async () => {
    const [r] = await plain(9080);
    return r?.error ? r : undefined;
  }, 60_000);
  // Reset by the bound listener's refusing chain (not a timeout, nor nothing listening).
  expect(refused.error).toMatch(/ECONNRESET|socket hang up/);
  // The meshed client still gets through, by mTLS.
  const [meshed] = await echoFrom(`${ns}/client`, `http://server.${ns}.svc.cluster.local:9080/`);
  expect(meshed).toMatchObject({ status: 200, pod: 'server' });
});
