// Pod start time on the devcluster's real kubelet: N pods created one after another (each once
// the one before is Ready), timed from the API server's creation timestamp of the pod to its
// Ready condition as an API watch sees it. Two kinds: a plain pod (the echo app) and a meshed
// one (the same pod in a namespace labelled for injection: the webhook adds the iptables init
// container and the proxy, which must get its certificate and configuration before the app
// starts). p50, p90, p99 and max per kind.
//
//   npx tsc && node dist/bench/pod-start.js [--pods 50] [--kinds plain,meshed]
//
// Needs the devcluster with Trellis installed (make cluster-up && make deploy). Creates and
// deletes the namespaces bench-start-<kind>-<id>. Record results in BENCHMARKS.md with the
// machine and the date.
import os from 'node:os';
import { Watch, type V1Pod } from '@kubernetes/client-node';
import { clusterAvailable, ECHO_IMAGE, kube, testNamespace } from '../test/support/cluster.js';
import { arg } from './args.js';

const PODS = arg('pods', 50);
const KINDS = (process.argv.includes('--kinds') ? process.argv[process.argv.indexOf('--kinds') + 1] : 'plain,meshed').split(',');
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const isReady = (p: V1Pod): boolean => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

async function run(kind: string): Promise<number[]> {
  const { kc, core } = kube();
  const ns = testNamespace(`bench-start-${kind}`);
  await core.createNamespace({ body: { metadata: { name: ns, labels: kind === 'meshed' ? { 'trellis-injection': 'enabled' } : {} } } });
  // The namespace's service account and mesh root come first, as they would for a real app.
  await waitUntil(async () => Boolean(await core.readNamespacedServiceAccount({ namespace: ns, name: 'default' }).catch(() => undefined)));
  if (kind === 'meshed') await waitUntil(async () => Boolean(await core.readNamespacedConfigMap({ namespace: ns, name: 'istio-ca-root-cert' }).catch(() => undefined)));
  const readyAt = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  const watch = await new Watch(kc).watch(`/api/v1/namespaces/${ns}/pods`, {}, (_type: string, pod: V1Pod) => {
    const name = pod.metadata?.name ?? '';
    if (!readyAt.has(name) && isReady(pod)) {
      readyAt.set(name, Date.now());
      waiters.get(name)?.();
    }
  }, () => undefined);
  const times: number[] = [];
  try {
    for (let i = 0; i < PODS; i++) {
      const name = `p${i}`;
      const ready = new Promise<void>((resolve) => waiters.set(name, resolve));
      const created = await core.createNamespacedPod({ namespace: ns, body: { metadata: { name }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: ECHO_IMAGE, readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 } }] } } });
      await Promise.race([ready, new Promise((_, reject) => setTimeout(() => reject(new Error(`${ns}/${name} not Ready after 120 s`)), 120_000))]);
      times.push(readyAt.get(name)! - new Date(created.metadata!.creationTimestamp!).getTime());
      process.stdout.write(`\r${kind}: ${i + 1}/${PODS}`);
    }
  } finally {
    (watch as { abort?: () => void }).abort?.();
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  }
  process.stdout.write('\n');
  return times;
}

async function waitUntil(fn: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('timed out');
}

if (!clusterAvailable()) {
  process.stderr.write('pod-start: no cluster (make cluster-up && make deploy)\n');
  process.exit(1);
}
process.stdout.write(`pod-start: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${PODS} pods per kind, one after another, ${new Date().toISOString()}\n`);
for (const kind of KINDS) {
  const t = await run(kind);
  process.stdout.write(`${kind.padEnd(7)} create → Ready: p50 ${s(pct(t, 50))}  p90 ${s(pct(t, 90))}  p99 ${s(pct(t, 99))}  max ${s(Math.max(...t))}\n`);
}
