// The whole mesh on a real cluster: Trellis installed with its Helm chart, a namespace labelled
// for injection, echo v1 and v2 and a client; traffic through both sidecars; a VirtualService
// weighted split and a header match; opt-out and excluded ports. It needs only a kubeconfig
// (the devcluster locally, kind in GitHub Actions).
import type { V1Pod } from '@kubernetes/client-node';
import { installTrellis } from '../support/install.js';
import { debugReaderToken } from '../support/tokens.js';
import { applyAll, clientPod, clusterAvailable, createIstioObject, echoDeployment, echoFrom, kube, podExec, testNamespace, waitFor, fetchInPod } from '../support/cluster.js';

const ns = testNamespace('mesh');
const { core } = kube();

const ready = (p: V1Pod): boolean => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const versionsOf = (replies: { body?: { labels?: Record<string, string> } }[]): Record<string, number> =>
  replies.reduce<Record<string, number>>((acc, r) => {
    const ver = r.body?.labels?.version ?? 'none';
    acc[ver] = (acc[ver] ?? 0) + 1;
    return acc;
  }, {});

async function envoyStat(pod: string, container: string, pattern: RegExp): Promise<number> {
  const body = (await fetchInPod(pod, 'http://127.0.0.1:15000/stats?format=json&filter=upstream_rq_total', { container })).body as { stats: { name: string; value?: number }[] };
  return body.stats.filter((s) => pattern.test(s.name)).reduce((sum, s) => sum + (s.value ?? 0), 0);
}

async function podsOf(selector: string): Promise<V1Pod[]> {
  return (await core.listNamespacedPod({ namespace: ns, labelSelector: selector })).items;
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await installTrellis();
  await core.createNamespace({ body: { metadata: { name: ns, labels: { 'trellis-injection': 'enabled' } } } });
  await applyAll([
    echoDeployment(ns, 'echo-v1', 1, { app: 'echo', version: 'v1' }),
    echoDeployment(ns, 'echo-v2', 1, { app: 'echo', version: 'v2' }),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: ns }, spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }] } } as never,
    clientPod(ns),
  ]);
});

afterAll(async () => {
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('pods in the labelled namespace start with the init container and the sidecar, and become Ready', async () => {
  const pods = await waitFor('3 ready pods', async () => {
    const items = (await core.listNamespacedPod({ namespace: ns })).items;
    return items.length === 3 && items.every(ready) ? items : undefined;
  }, 180_000);
  for (const p of pods) {
    expect(p.spec?.initContainers?.map((c) => c.name)).toEqual(['trellis-init', 'trellis-proxy']);
    expect(p.status?.initContainerStatuses?.[0].state?.terminated?.exitCode).toBe(0);
  }
});

test('a request from the client to the Service passes through the client sidecar and the server sidecar', async () => {
  const client = `${ns}/client`;
  // Until both versions answer: the second pod's endpoint may reach the client's Envoy a moment
  // after the first (its EndpointSlice update is a push of its own).
  const replies = await waitFor('the mesh to route to both versions', async () => {
    const r = await echoFrom(client, 'http://echo:8080/through', 20);
    return r.length === 20 && r.every((x) => x.status === 200) && Object.keys(versionsOf(r)).length === 2 ? r : undefined;
  }, 60_000);
  // The client's Envoy answered (it adds these) ...
  expect(replies[0].headers?.server).toBe('envoy');
  expect(replies[0].headers?.['x-envoy-upstream-service-time']).toBeDefined();
  // ... and its counters saw the requests go to the service's cluster ...
  expect(await envoyStat(client, 'trellis-proxy', new RegExp(`^cluster\\.outbound\\|8080\\|\\|echo\\.${ns}\\.svc\\.cluster\\.local\\.upstream_rq_total$`))).toBeGreaterThanOrEqual(20);
  // ... and each server's Envoy saw them arrive on its inbound cluster.
  let inbound = 0;
  for (const p of await podsOf('app=echo')) inbound += await envoyStat(`${ns}/${p.metadata?.name}`, 'trellis-proxy', /^cluster\.inbound\|8080\|\|\.upstream_rq_total$/);
  expect(inbound).toBeGreaterThanOrEqual(20);
  expect(Object.keys(versionsOf(replies)).sort()).toEqual(['v1', 'v2']);
});

test('a VirtualService 80/20 split and a header match take effect', async () => {
  const started = Date.now();
  await createIstioObject(ns, 'DestinationRule', 'echo', { host: 'echo', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] });
  await createIstioObject(ns, 'VirtualService', 'echo', {
    hosts: ['echo'],
    http: [
      { match: [{ headers: { 'x-canary': { exact: 'yes' } } }], route: [{ destination: { host: 'echo', subset: 'v2' } }] },
      { route: [{ destination: { host: 'echo', subset: 'v1' }, weight: 80 }, { destination: { host: 'echo', subset: 'v2' }, weight: 20 }] },
    ],
  });
  await waitFor('the header route', async () => {
    const r = await echoFrom(`${ns}/client`, 'http://echo:8080/', 5, ['x-canary: yes']);
    return r.length === 5 && r.every((x) => x.body?.labels?.version === 'v2');
  }, 30_000, 50);
  process.stdout.write(`VirtualService in effect ${Date.now() - started} ms after it was created (a measurement, not a test)\n`);
  const split = versionsOf(await echoFrom(`${ns}/client`, 'http://echo:8080/', 200));
  // 200 draws at p=0.8: v1 is 160 ± 3σ (σ≈5.7) with overwhelming probability.
  expect(split.v1).toBeGreaterThanOrEqual(135);
  expect(split.v1).toBeLessThanOrEqual(185);
  expect((split.v1 ?? 0) + (split.v2 ?? 0)).toBe(200);
  const canary = versionsOf(await echoFrom(`${ns}/client`, 'http://echo:8080/', 20, ['x-canary: yes']));
  expect(canary).toEqual({ v2: 20 });
});

test('a pod that opts out runs without a sidecar and still reaches meshed services', async () => {
  await applyAll([{ ...clientPod(ns, 'plain'), metadata: { name: 'plain', namespace: ns, labels: { app: 'plain', 'sidecar.istio.io/inject': 'false' } } } as never]);
  const pod = await waitFor('the opted-out pod', async () => {
    const p = await core.readNamespacedPod({ namespace: ns, name: 'plain' });
    return ready(p) ? p : undefined;
  });
  expect(pod.spec?.initContainers ?? []).toEqual([]);
  const replies = await echoFrom(`${ns}/plain`, 'http://echo:8080/', 5);
  expect(replies.every((r) => r.status === 200)).toBe(true);
  // No client sidecar on this path: the reply comes from the server's inbound Envoy.
  expect(replies[0].headers?.['x-envoy-upstream-service-time']).toBeDefined();
});

test('the proxies are connected to the in-cluster control plane', async () => {
  // Retried: a control plane replaced meanwhile (an upgrade by another suite) has its proxies back
  // once they reconnect; the last answer is in the failure message.
  let last = '';
  // The debug pages answer a pod only with a token allowed to read them (see security.test.ts).
  const auth = ['-H', `authorization: Bearer ${await debugReaderToken(ns)}`];
  const ids = await waitFor('3 proxies of the namespace in /debug/syncz', async () => {
    const res = await podExec(`${ns}/client`, ['echo-client', 'http://trellis.trellis-system.svc:15014/debug/syncz', ...auth]);
    last = res.stdout + res.stderr;
    const status = JSON.parse(res.stdout.trim().split('\n')[0] || '{}') as { body?: { id: string }[] };
    const mine = (status.body ?? []).map((p) => p.id).filter((id) => id.includes(`.${ns}~`));
    return mine.length >= 3 ? mine : undefined;
  }).catch((err: Error) => {
    throw new Error(`${err.message}; last answer: ${last.slice(0, 500)}`);
  });
  expect(ids.length).toBeGreaterThanOrEqual(3);
  // What Trellis gives the client's proxy, readable: the VirtualService's split is in its routes.
  const dump = await podExec(`${ns}/client`, ['echo-client', `http://trellis.trellis-system.svc:15014/debug/config_dump?proxy=client.${ns}`, ...auth]);
  const resources = (JSON.parse(dump.stdout.trim().split('\n')[0]) as { body: { resources: { rds: Record<string, unknown>; cds: Record<string, unknown> } } }).body.resources;
  expect(Object.keys(resources.cds)).toEqual(expect.arrayContaining([`outbound|8080|v1|echo.${ns}.svc.cluster.local`, `outbound|8080|v2|echo.${ns}.svc.cluster.local`]));
  expect(JSON.stringify(resources.rds['8080'])).toContain('"weighted_clusters"');
});

test('a ServiceEntry with STATIC endpoints sends meshed traffic for its host to a workload outside the mesh', async () => {
  const outside = `${ns}-ext`;
  await core.createNamespace({ body: { metadata: { name: outside } } });
  try {
    await applyAll([echoDeployment(outside, 'legacy', 1)]);
    const legacy = await waitFor('the legacy pod', async () => {
      const [p] = (await core.listNamespacedPod({ namespace: outside, labelSelector: 'app=legacy' })).items;
      return p && ready(p) ? p : undefined;
    });
    await createIstioObject(ns, 'ServiceEntry', 'legacy', {
      hosts: ['legacy.example.internal'],
      addresses: ['240.240.0.10'],
      ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 }],
      location: 'MESH_EXTERNAL',
      resolution: 'STATIC',
      endpoints: [{ address: legacy.status!.podIP! }],
    });
    // The app connects to the entry's address with the host name: the sidecar routes by host.
    const reply = await waitFor('the ServiceEntry route', async () => {
      const [r] = await echoFrom(`${ns}/client`, 'http://240.240.0.10/legacy', 1, ['host: legacy.example.internal']);
      return r?.status === 200 ? r : undefined;
    }, 30_000);
    expect(reply.pod).toBe(legacy.metadata?.name);
    expect(reply.headers?.['x-envoy-upstream-service-time']).toBeDefined();
  } finally {
    await core.deleteNamespace({ name: outside }).catch(() => undefined);
  }
});
