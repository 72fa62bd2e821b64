// The Sidecar resource with real Envoys and traffic: a namespace default `./*` leaves a proxy no
// cluster or route for another namespace's service, which it then reaches only as Istio's
// sidecar would, through the passthrough (ALLOW_ANY: plain text, no mesh identity) or not at all
// (REGISTRY_ONLY: 502); and a change outside the proxy's scope sends it nothing (its Envoy's own
// update counters stand still while a proxy that sees the change applies it).
import type { V1Pod } from '@kubernetes/client-node';
import { installTrellis } from '../support/install.js';
import { applyAll, applyIstioObject, clientPod, clusterAvailable, deleteIstioObject, echoDeployment, echoFrom, kube, testNamespace, waitFor, fetchInPod } from '../support/cluster.js';

const ns = testNamespace('scope');
const other = `${ns}-other`;
const { core } = kube();
const client = `${ns}/client`;

const ready = (p: V1Pod): boolean => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const service = (namespace: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace }, spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }] } }) as never;

/** A page of a pod's Envoy admin (loopback inside the pod), as parsed JSON. */
async function envoyAdmin<T>(pod: string, page: string): Promise<T> {
  return (await fetchInPod(pod, `http://127.0.0.1:15000${page}`)).body as T;
}

/** The names of the clusters a pod's Envoy holds. */
async function clusterNames(pod: string): Promise<string[]> {
  const dump = await envoyAdmin<{ configs: { dynamic_active_clusters?: { cluster: { name: string } }[] }[] }>(pod, '/config_dump?resource=dynamic_active_clusters');
  return (dump.configs ?? []).map((c) => (c as unknown as { cluster: { name: string } }).cluster?.name).filter(Boolean);
}

/**
 * How many xDS updates a pod's Envoy has accepted: CDS, LDS, each route configuration's RDS and
 * each outbound cluster's EDS (not the DNS refreshes of its static clusters).
 */
async function xdsUpdateCounters(pod: string): Promise<Record<string, number>> {
  const body = await envoyAdmin<{ stats: { name: string; value?: number }[] }>(pod, '/stats?format=json&filter=update_success$');
  const xds = /^(cluster_manager\.cds|listener_manager\.lds|http\..*\.rds\..*|cluster\.outbound\|.*)\.update_success$/;
  return Object.fromEntries(body.stats.filter((s) => s.value !== undefined && xds.test(s.name)).map((s) => [s.name, s.value!]));
}

/** The counters present in both (a drained listener's route configuration leaves the stats, unchanged). */
const common = (a: Record<string, number>, b: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(a).filter(([k]) => k in b));

const otherHost = `echo.${other}.svc.cluster.local`;
const ownHost = `echo.${ns}.svc.cluster.local`;

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await installTrellis();
  for (const n of [ns, other]) await core.createNamespace({ body: { metadata: { name: n, labels: { 'trellis-injection': 'enabled' } } } });
  await applyAll([echoDeployment(ns, 'echo', 1), service(ns), echoDeployment(other, 'echo', 1), service(other), clientPod(ns)]);
  await waitFor('all pods ready', async () => {
    const pods = [...(await core.listNamespacedPod({ namespace: ns })).items, ...(await core.listNamespacedPod({ namespace: other })).items];
    return pods.length === 3 && pods.every(ready);
  }, 180_000);
});

afterAll(async () => {
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
  await core.deleteNamespace({ name: other }).catch(() => undefined);
});

test("without a Sidecar the client sees both services and reaches the other namespace's over mutual TLS", async () => {
  await waitFor('both clusters', async () => {
    const names = await clusterNames(client);
    return names.includes(`outbound|8080||${otherHost}`) && names.includes(`outbound|8080||${ownHost}`);
  });
  const [r] = await waitFor('a mesh reply', async () => {
    const replies = await echoFrom(client, `http://${otherHost}:8080/mesh`, 1);
    return replies[0]?.status === 200 ? replies : undefined;
  });
  expect(r.body?.headers?.['x-forwarded-client-cert']).toContain(`URI=spiffe://cluster.local/ns/${ns}/sa/default`);
});

test('a namespace Sidecar `./*` removes the other namespace: reached through the passthrough only, without mesh identity', async () => {
  await applyIstioObject(ns, 'Sidecar', 'default', { egress: [{ hosts: ['./*'] }] });
  await waitFor('the other cluster gone', async () => !(await clusterNames(client)).includes(`outbound|8080||${otherHost}`));
  expect(await clusterNames(client)).toContain(`outbound|8080||${ownHost}`);
  // ALLOW_ANY: the request leaves through PassthroughCluster as plain text, so the server's
  // sidecar (PERMISSIVE) serves it without a client identity.
  const [r] = await echoFrom(client, `http://${otherHost}:8080/passthrough`, 1);
  expect(r.status).toBe(200);
  expect(r.body?.headers?.['x-forwarded-client-cert']).toBeUndefined();
  const passthrough = await envoyAdmin<{ stats: { name: string; value?: number }[] }>(client, '/stats?format=json&filter=^cluster.PassthroughCluster.upstream_rq_total$');
  expect(passthrough.stats[0]?.value ?? 0).toBeGreaterThanOrEqual(1);
  // The own namespace's service still goes through the mesh.
  const [own] = await echoFrom(client, `http://echo:8080/own`, 1);
  expect(own.body?.headers?.['x-forwarded-client-cert']).toContain(`spiffe://cluster.local/ns/${ns}/sa/default`);
});

test('a change outside the scope sends the proxy nothing, while a proxy that sees it applies it', async () => {
  // The echo pod of `other` sees its own service; the client (./*) does not.
  const [witness] = (await core.listNamespacedPod({ namespace: other, labelSelector: 'app=echo' })).items;
  const witnessPod = `${other}/${witness.metadata!.name}`;
  const before = await xdsUpdateCounters(client);
  expect(Object.keys(before)).toEqual(expect.arrayContaining(['cluster_manager.cds.update_success', 'listener_manager.lds.update_success', 'http.outbound_0.0.0.0_8080.rds.8080.update_success']));
  await applyIstioObject(other, 'VirtualService', 'echo', { hosts: ['echo'], http: [{ timeout: '7s', route: [{ destination: { host: 'echo' } }] }] });
  await waitFor("the witness's route with the VirtualService's timeout", async () => {
    const dump = await envoyAdmin<unknown>(witnessPod, '/config_dump?resource=dynamic_route_configs');
    return JSON.stringify(dump).includes('"timeout":"7s"');
  });
  // One more round trip of the control plane's debounce before looking: nothing is on its way.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const after = await xdsUpdateCounters(client);
  expect(common(after, before)).toEqual(common(before, after));
  expect(Object.keys(common(before, after))).toEqual(expect.arrayContaining(['cluster_manager.cds.update_success', 'listener_manager.lds.update_success']));
  await deleteIstioObject(other, 'VirtualService', 'echo');
});

test('REGISTRY_ONLY in the Sidecar refuses hosts outside its scope with a 502', async () => {
  await applyIstioObject(ns, 'Sidecar', 'default', { outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' }, egress: [{ hosts: ['./*'] }] });
  const [r] = await waitFor('the block', async () => {
    const replies = await echoFrom(client, `http://${otherHost}:8080/blocked`, 1);
    return replies[0]?.status === 502 ? replies : undefined;
  });
  expect(r.body?.pod).toBeUndefined();
  const [own] = await echoFrom(client, `http://echo:8080/own`, 1);
  expect(own.status).toBe(200);
  // Deleting the Sidecar brings the other namespace back.
  await deleteIstioObject(ns, 'Sidecar', 'default');
  await waitFor('the other cluster back', async () => (await clusterNames(client)).includes(`outbound|8080||${otherHost}`));
});
