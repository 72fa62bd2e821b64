// The sidecar agent in a real pod: it writes Envoy's bootstrap from the pod's identity, runs
// the real Envoy as UID 1337, serves readiness on 15021 and Prometheus stats on 15090, and
// drains before it exits when the pod is deleted.
import fs from 'node:fs';
import type { V1Pod } from '@kubernetes/client-node';
import { clusterAvailable, echoFrom, kube, podExec, testNamespace, waitFor } from '../support/cluster.js';

const ns = testNamespace('agent');
const { core } = kube();

function proxyPod(): V1Pod {
  return {
    metadata: { name: 'proxy', namespace: ns, labels: { app: 'reviews', version: 'v2' } },
    spec: {
      terminationGracePeriodSeconds: 10,
      containers: [
        {
          name: 'trellis-proxy',
          image: 'trellis/proxy:latest',
          securityContext: { runAsUser: 1337, runAsGroup: 1337 },
          env: [
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'INSTANCE_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            // Nothing listens here: Envoy must still come up (initial fetch timeout) and be ready.
            { name: 'TRELLIS_DISCOVERY_ADDRESS', value: '127.0.0.1:1' },
            { name: 'TRELLIS_DRAIN_SECONDS', value: '1' },
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
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedPod({ namespace: ns, body: proxyPod() });
});
afterAll(() => core.deleteNamespace({ name: ns }).catch(() => undefined));

test('Envoy starts from the generated bootstrap, as UID 1337, and the pod becomes Ready', async () => {
  const pod = await waitFor('the proxy pod to be ready', async () => {
    const p = await core.readNamespacedPod({ namespace: ns, name: 'proxy' });
    return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
  }, 90_000);
  const [info] = await echoFrom(`${ns}/proxy`, 'http://127.0.0.1:15000/server_info');
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
  const [stats] = await echoFrom(`${ns}/proxy`, 'http://127.0.0.1:15090/stats/prometheus');
  expect(stats.status).toBe(200);
  expect(String(stats.body)).toContain('envoy_server_live');
});

test('deleting the pod drains Envoy and the agent exits before the grace period ends', async () => {
  const dir = fs.readdirSync(`.devcluster/node/pods/${ns}`).find((d) => d.startsWith('proxy-'));
  const log = `.devcluster/node/pods/${ns}/${dir}/logs/trellis-proxy.log`;
  const started = Date.now();
  await core.deleteNamespacedPod({ namespace: ns, name: 'proxy' });
  let sawDrain = false;
  await waitFor(
    'the pod to be gone',
    async () => {
      sawDrain ||= fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('"message":"draining"');
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
  const elapsed = Date.now() - started;
  expect(sawDrain).toBe(true);
  expect(elapsed).toBeGreaterThanOrEqual(1000); // the drain period (TRELLIS_DRAIN_SECONDS=1)
  expect(elapsed).toBeLessThan(10_000); // and not the SIGKILL at the grace period
});
