// bench/xds-client, the Go simulated sidecars of bench/vs-istiod, against the real control plane
// and API server, state of the world and delta: each client follows CDS and LDS to every EDS and
// RDS name as Envoy does (what it holds equals what the control plane offers that node), and sees
// a VirtualService change and an endpoint move arrive.
// The benchmark's convergence numbers are only as good as this.
import { buildGoTool } from '../../bench/go-tool.js';
import { SimulatedSidecars } from '../../bench/vs-istiod/clients.js';
import { DiscoveryV1Api } from '@kubernetes/client-node';
import { addressBytes, churnIp, endpointSlice, istioNode, service, serviceName, virtualServiceSpec } from '../../bench/vs-istiod/mesh.js';
import { edsNames, rdsNames } from '../../bench/vs-istiod/xds-names.js';
import { TypeUrl } from '../../src/xds/types.js';
import { AdsClient } from '../support/ads-client.js';
import { applyIstioObject, clusterAvailable, kube, testNamespace, waitFor } from '../support/cluster.js';
import { startControlPlane, type RunningControlPlane } from '../support/control-plane.js';

const ns = testNamespace('xds-client');
const { core, objects } = kube();
const ISTIO_VERSION = '1.31.0';
const CLIENTS = 3;
let cp: RunningControlPlane;
let sidecars: SimulatedSidecars | undefined;

/** A bench object moved into this test's namespace. */
function here(o: Record<string, unknown>): never {
  return { ...o, metadata: { ...(o.metadata as object), namespace: ns } } as never;
}

/**
 * What client 0 should hold: every cluster and listener the control plane offers a pod of the same
 * service (another pod: one stream per node), and the EDS and RDS names they lead to.
 */
async function offered(): Promise<Record<string, number>> {
  const latest = new Map<string, Buffer[]>();
  const ref = new AdsClient(cp.xdsAddress, { node: istioNode(CLIENTS, 1, ISTIO_VERSION) as never, history: false, onResponse: (r) => latest.set(r.typeUrl, [...r.values.values()]) });
  try {
    ref.subscribe(TypeUrl.Cluster, []);
    ref.subscribe(TypeUrl.Listener, []);
    await ref.until('CDS and LDS', () => latest.has(TypeUrl.Cluster) && latest.has(TypeUrl.Listener), 20_000);
    const eds = edsNames(latest.get(TypeUrl.Cluster)!);
    const rds = rdsNames(latest.get(TypeUrl.Listener)!);
    return { clusters: latest.get(TypeUrl.Cluster)!.length, edsNames: eds.length, endpoints: eds.length, listeners: latest.get(TypeUrl.Listener)!.length, rdsNames: rds.length, routes: rds.length };
  } finally {
    ref.close();
  }
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
  cp = await startControlPlane({ namespace: ns, validatingConfig: `trellis-validator-${ns}` });
  await objects.create(here(service(0)));
  await objects.create(here(endpointSlice(0)));
  await waitFor('the VirtualService', () => applyIstioObject(ns, 'VirtualService', serviceName(0), virtualServiceSpec(0, 'first')).then(() => true), 30_000);
});

afterAll(async () => {
  await sidecars?.stop();
  if (cp) await cp.stop();
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test.each(['sotw', 'delta'] as const)('the Go clients (%s) hold what the control plane offers and see a route change arrive', async (protocol) => {
  const worker = await buildGoTool('xds-client');
  const clients = new SimulatedSidecars(cp.xdsAddress, CLIENTS, 1, ISTIO_VERSION, worker, protocol);
  sidecars = clients;
  try {
    const synced = await clients.synced(60_000, () => undefined);
    expect(synced.sample.endpoints).toBeGreaterThan(0);
    expect(synced.sample.routes).toBeGreaterThan(0);

    // Objects of other tests may come and go meanwhile: compare until both agree on one state.
    let last: unknown;
    await waitFor(
      'client 0 to hold what is offered',
      async () => {
        const want = await offered();
        const { sample } = await clients.countersAndSample();
        last = { want, sample };
        return JSON.stringify(sample) === JSON.stringify(want);
      },
      30_000,
      1000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(last)}`);
    });

    const marker = `second-${protocol}`;
    const { seen } = await clients.watch([marker], 30_000);
    const start = Date.now();
    await applyIstioObject(ns, 'VirtualService', serviceName(0), virtualServiceSpec(0, marker));
    const at = await seen;
    expect(at).toHaveLength(CLIENTS);
    for (const t of at) expect(t).toBeGreaterThanOrEqual(start - 5); // two clocks: the Go process's and ours

    // An endpoint moves: every client (all ask for the service's EDS name) gets the new address.
    const ip = churnIp(protocol === 'sotw' ? 1 : 2);
    const { seen: moved } = await clients.watchEndpoint(`outbound|80||${serviceName(0)}.${ns}.svc.cluster.local`, addressBytes(ip), 30_000);
    await kube().kc.makeApiClient(DiscoveryV1Api).patchNamespacedEndpointSlice({ namespace: ns, name: `${serviceName(0)}-bench`, body: [{ op: 'replace', path: '/endpoints/1/addresses/0', value: ip }] });
    expect((await moved).filter((t) => t > 0)).toHaveLength(CLIENTS);

    const { responses } = await clients.counters();
    expect(responses).toBeGreaterThanOrEqual(CLIENTS * 4);
  } finally {
    await clients.stop();
    sidecars = undefined;
  }
});
