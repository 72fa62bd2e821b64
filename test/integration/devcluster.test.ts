// The devcluster behaves like a Kubernetes cluster: Deployments become Ready pods with IPs,
// EndpointSlices fill in, Services answer by DNS name and ClusterIP from inside a pod, and
// deleting a namespace removes everything, processes included.
import type { V1Pod } from '@kubernetes/client-node';
import { applyAll, clientPod, clusterAvailable, echoDeployment, echoFrom, kube, podExec, podProcesses, testNamespace, waitFor } from '../support/cluster.js';

const ns = testNamespace('dc');
const { core, discovery } = kube();

function ready(p: V1Pod): boolean {
  return p.status?.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await applyAll([
    echoDeployment(ns, 'echo', 2),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: ns }, spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'grpc', port: 7070, targetPort: 7070 }] } } as never,
    clientPod(ns),
  ]);
});

afterAll(async () => {
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('a Deployment of 2 echo replicas becomes Running and Ready with pod IPs', async () => {
  const pods = await waitFor('2 ready echo pods', async () => {
    const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=echo' });
    return list.items.length === 2 && list.items.every(ready) ? list.items : undefined;
  });
  for (const p of pods) expect(p.status?.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  expect(new Set(pods.map((p) => p.status?.podIP)).size).toBe(2);
});

test('the EndpointSlice of the Service lists both replicas as ready', async () => {
  const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=echo' });
  const want = pods.items.map((p) => p.status?.podIP).sort();
  const got = await waitFor('endpoints for both replicas', async () => {
    const slices = await discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: 'kubernetes.io/service-name=echo' });
    const ips = slices.items.flatMap((s) => s.endpoints.filter((e) => e.conditions?.ready).flatMap((e) => e.addresses)).sort();
    return ips.length === 2 ? ips : undefined;
  });
  expect(got).toEqual(want);
});

test('a client pod reaches the Service by DNS name and gets answers from both replicas', async () => {
  await waitFor('client pod ready', async () => ready(await core.readNamespacedPod({ namespace: ns, name: 'client' })));
  // kube-proxy programs a new Service's rules within about a second (its min sync period), and
  // may program the first ready endpoint a sync before the second: wait for both to answer.
  await waitFor('both replicas behind the Service', async () => new Set((await echoFrom(`${ns}/client`, `http://echo.${ns}.svc.cluster.local/`, 10)).filter((r) => r.status === 200).map((r) => r.pod)).size === 2);
  const replies = await echoFrom(`${ns}/client`, `http://echo.${ns}.svc.cluster.local/dns`, 30);
  expect(replies).toHaveLength(30);
  expect(replies.every((r) => r.status === 200)).toBe(true);
  expect(new Set(replies.map((r) => r.pod)).size).toBe(2);
  expect(replies[0].body?.path).toBe('/dns');
  // The short name resolves through the pod's search path.
  const short = await echoFrom(`${ns}/client`, 'http://echo/short', 1);
  expect(short[0].status).toBe(200);
});

test('a client pod reaches the Service by ClusterIP and gets answers from both replicas', async () => {
  const svc = await core.readNamespacedService({ namespace: ns, name: 'echo' });
  const replies = await echoFrom(`${ns}/client`, `http://${svc.spec?.clusterIP}/ip`, 30);
  expect(replies.every((r) => r.status === 200)).toBe(true);
  expect(new Set(replies.map((r) => r.pod)).size).toBe(2);
});

test('the echo image answers gRPC too, through the Service', async () => {
  const replies = await echoFrom(`${ns}/client`, `grpc://echo.${ns}.svc.cluster.local:7070`, 10);
  expect(replies).toHaveLength(10);
  expect(replies.every((r) => (r as { status?: unknown }).status === 'OK' && r.pod?.startsWith('echo-'))).toBe(true);
  expect(new Set(replies.map((r) => r.pod)).size).toBe(2);
});

test('pods see their own labels, name, namespace and hostname', async () => {
  const replies = await echoFrom(`${ns}/client`, 'http://echo/', 1);
  const body = replies[0].body as { labels: Record<string, string>; namespace: string; pod: string };
  expect(body.labels.app).toBe('echo');
  expect(body.namespace).toBe(ns);
  const host = await podExec(`${ns}/client`, ['hostname']);
  expect(host.stdout.trim()).toBe('client');
});

test('a pod whose ConfigMap volume does not exist yet waits in ContainerCreating and starts once it appears', async () => {
  const pod = { ...clientPod(ns, 'later'), spec: { ...(clientPod(ns, 'later') as V1Pod).spec!, volumes: [{ name: 'cfg', configMap: { name: 'later' } }] } } as V1Pod;
  pod.spec!.containers[0].volumeMounts = [{ name: 'cfg', mountPath: '/etc/later' }];
  await core.createNamespacedPod({ namespace: ns, body: pod });
  await waitFor('the pod to wait for its ConfigMap', async () => {
    const p = await core.readNamespacedPod({ namespace: ns, name: 'later' });
    return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ContainerCreating';
  });
  // The kubelet says why in an event of the pod, as on any cluster.
  const event = await waitFor('a FailedMount event', async () => {
    const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=later' });
    return events.items.find((e) => e.reason === 'FailedMount');
  });
  expect(event.message).toContain('configmap "later" not found');
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'later' }, data: { greeting: 'hello' } } });
  await waitFor('the pod to start', async () => ready(await core.readNamespacedPod({ namespace: ns, name: 'later' })));
  expect((await podExec(`${ns}/later`, ['cat', '/etc/later/greeting'])).stdout).toBe('hello');
});

test('deleting the namespace removes every object and every pod process', async () => {
  const pods = await core.listNamespacedPod({ namespace: ns });
  const uids = pods.items.map((p) => p.metadata?.uid ?? '');
  expect(uids.length).toBe(4); // echo ×2, client, later
  expect(uids.filter((u) => podProcesses(u).length === 0)).toEqual([]);
  await core.deleteNamespace({ name: ns });
  await waitFor(
    'namespace gone',
    async () => {
      try {
        await core.readNamespace({ name: ns });
        return false;
      } catch {
        return true;
      }
    },
    120_000,
  );
  expect(uids.flatMap(podProcesses)).toEqual([]);
});
