// The sidecar agent in a real pod: it writes Envoy's bootstrap from the pod's identity, runs
// the real Envoy as UID 1337, serves readiness on 15021 and Prometheus stats on 15090, and
// drains before it exits when the pod is deleted.
import fs from 'node:fs';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { clusterAvailable, fetchInPod, kube, podExec, proxyPod, root, testNamespace, waitFor } from '../support/cluster.js';
import { testMeshCa } from '../support/envoy.js';

const ns = testNamespace('agent');
const { core } = kube();

// Nothing listens at the discovery address (nor the CA): Envoy must still come up (initial
// fetch timeouts: the workload certificate, then CDS and LDS) and be ready.
const pod = (): V1Pod =>
  proxyPod({ name: 'proxy', namespace: ns, labels: { app: 'reviews', version: 'v2' }, discoveryAddress: '127.0.0.1:1', env: [{ name: 'TRELLIS_DRAIN_SECONDS', value: '1' }], terminationGracePeriodSeconds: 10 });

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
  // What a control plane publishes in every namespace (the pod's root volume waits for it).
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'istio-ca-root-cert' }, data: { 'root-cert.pem': (await testMeshCa()).rootPem } } });
  await core.createNamespacedPod({ namespace: ns, body: pod() });
});
afterAll(() => core.deleteNamespace({ name: ns }).catch(() => undefined));

test('Envoy starts from the generated bootstrap, as UID 1337, and the pod becomes Ready', async () => {
  const pod = await waitFor('the proxy pod to be ready', async () => {
    const p = await core.readNamespacedPod({ namespace: ns, name: 'proxy' });
    return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
  }, 180_000);
  const info = await fetchInPod(`${ns}/proxy`, 'http://127.0.0.1:15000/server_info');
  const body = info.body as unknown as { node: { id: string; metadata: { LABELS: Record<string, string>; NAMESPACE: string } }; state: string };
  expect(body.node.id).toBe(`sidecar~${pod.status?.podIP}~proxy.${ns}~${ns}.svc.cluster.local`);
  expect(body.node.metadata.LABELS).toEqual({ app: 'reviews', version: 'v2' });
  expect(body.node.metadata.NAMESPACE).toBe(ns);
  expect(body.state).toBe('LIVE');
  // The Envoy process really runs as 1337: iptables owner matching depends on it.
  const ps = await podExec(`${ns}/proxy`, ['sh', '-c', 'for p in /proc/[0-9]*; do if grep -q envoy "$p/comm" 2>/dev/null; then grep "^Uid:" "$p/status"; fi; done']);
  expect(ps.stdout).toMatch(/^Uid:\s+1337\s+1337/m);
});

test('Prometheus stats are served on 15090', async () => {
  const stats = await fetchInPod(`${ns}/proxy`, 'http://127.0.0.1:15090/stats/prometheus');
  expect(stats.status).toBe(200);
  expect(String(stats.body)).toContain('envoy_server_live');
});

test('deleting the pod drains Envoy, and the agent stops it cleanly rather than being killed', async () => {
  // The kubelet's log of the container (podLogsDir, CRI format: time, stream, tag, line). It
  // removes the pod's logs once the pod is gone: an open descriptor still reads the whole file
  // afterwards, including the agent's last line.
  const uid = (await core.readNamespacedPod({ namespace: ns, name: 'proxy' })).metadata!.uid!;
  const log = path.join(root, '.devcluster/pod-logs', `${ns}_proxy_${uid}`, 'trellis-proxy', '0.log');
  const fd = fs.openSync(log, 'r');
  await core.deleteNamespacedPod({ namespace: ns, name: 'proxy' });
  await waitFor(
    'the pod to be gone',
    async () => {
      try {
        await core.readNamespacedPod({ namespace: ns, name: 'proxy' });
        return false;
      } catch {
        return true;
      }
    },
    60_000,
    100,
  );
  const text = fs.readFileSync(fd, 'utf8');
  fs.closeSync(fd);
  // Agent lines are JSON; Envoy's own lines (tab-separated) and any interleaved fragments are not.
  const lines = text.split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l.split(' ').slice(3).join(' ')) as { message?: string; seconds?: number; code?: number | null; signal?: string | null }];
    } catch {
      return [];
    }
  });
  const drain = lines.findIndex((l) => l.message === 'draining');
  const exited = lines.findIndex((l) => l.message === 'envoy exited');
  // The agent got SIGTERM and started the drain with the configured period...
  expect(drain).toBeGreaterThanOrEqual(0);
  expect(lines[drain].seconds).toBe(1);
  // ...and afterwards Envoy exited by itself with code 0 on the agent's SIGTERM. Had the node
  // SIGKILLed the container at the end of the grace period, the agent would have died with
  // Envoy and never written this line (or Envoy would report signal SIGKILL).
  expect(exited).toBeGreaterThan(drain);
  expect(lines[exited]).toMatchObject({ code: 0, signal: null });
});
