// A Sidecar's outboundTrafficPolicy.egressProxy, end to end with a real sidecar: what matches no
// service passes through to its destination until the Sidecar names an egress proxy, then goes
// to that proxy instead: over TCP where no listener takes the port, and through the HTTP catch-all
// where an HTTP service shares the port (Istio's PassthroughCluster replaced by the proxy's
// cluster in both places).
import { applyAll, applyIstioObject, clusterAvailable, createInjectedClient, echoDeployment, echoFrom, kube, readyPodOf, testNamespace, waitFor, type EchoReply } from '../support/cluster.js';
import { startControlPlane, type RunningControlPlane } from '../support/control-plane.js';

const ns = testNamespace('egressproxy');
const { core } = kube();
let cp: RunningControlPlane;

const service = (name: string, app: string, port: { name: string; port: number }): never =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector: { app }, ports: [{ ...port, targetPort: 8080 }] } }) as never;

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns, labels: { 'trellis.io/control-plane': ns } } } });
  cp = await startControlPlane({ namespace: ns, validatingConfig: `trellis-validator-${ns}`, podReachable: true });
  await applyAll([
    // The egress proxy: an echo server, so an answer says who took the connection.
    echoDeployment(ns, 'proxy', 1),
    service('egress-proxy', 'proxy', { name: 'tcp', port: 3128 }),
    echoDeployment(ns, 'unknown', 1), // no Service: a destination the mesh does not know
    echoDeployment(ns, 'web', 1), // the HTTP service below: its own pods, so a reply from them is told apart
  ]);
  // Only this namespace's services, so no other test's Service puts a listener on port 8080.
  await applyIstioObject(ns, 'Sidecar', 'default', { egress: [{ hosts: ['./*'] }] });
  await createInjectedClient(ns, cp.discoveryAddress);
});

afterAll(async () => {
  if (cp) await cp.stop();
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('unknown destinations go to the egress proxy once the Sidecar names one, by TCP and through the HTTP catch-all', async () => {
  const unknown = await readyPodOf(ns, 'unknown');
  await readyPodOf(ns, 'proxy');
  await readyPodOf(ns, 'client', 120_000); // the client and its sidecar
  const client = `${ns}/client`;
  const target = `http://${unknown.status?.podIP}:8080/`;
  const from = async (url: string): Promise<EchoReply | undefined> => (await echoFrom(client, url, 1))[0];

  // ALLOW_ANY: straight through to the destination.
  const direct = await waitFor('the passthrough', async () => {
    const r = await from(target);
    return r?.status === 200 ? r : undefined;
  }, 60_000);
  expect(direct.pod).toBe(unknown.metadata?.name);

  await applyIstioObject(ns, 'Sidecar', 'default', {
    egress: [{ hosts: ['./*'] }],
    outboundTrafficPolicy: { mode: 'ALLOW_ANY', egressProxy: { host: `egress-proxy.${ns}.svc.cluster.local`, port: { number: 3128 } } },
  });
  // No listener has port 8080 in this scope: the connection is the virtual outbound listener's,
  // whose catch-all proxies TCP to the egress proxy (no HTTP router, so no Envoy response header).
  const viaTcp = await waitFor('the egress proxy by TCP', async () => {
    const r = await from(target);
    return r?.pod?.startsWith('proxy-') ? r : undefined;
  }, 60_000);
  expect(viaTcp.status).toBe(200);
  expect(viaTcp.headers?.['x-envoy-upstream-service-time']).toBeUndefined();

  // An HTTP service on port 8080: now the port's HTTP listener takes it, and its catch-all
  // virtual host routes to the egress proxy.
  await applyAll([service('web', 'web', { name: 'http', port: 8080 })]);
  const viaHttp = await waitFor('the egress proxy through the HTTP catch-all', async () => {
    const r = await from(target);
    return r?.pod?.startsWith('proxy-') && r.headers?.['x-envoy-upstream-service-time'] !== undefined ? r : undefined;
  }, 60_000);
  expect(viaHttp.status).toBe(200);
  // Never the destination itself while the egress proxy is named.
  const again = await echoFrom(client, target, 5);
  expect(again.map((r) => r.pod?.startsWith('proxy-'))).toEqual([true, true, true, true, true]);
});
