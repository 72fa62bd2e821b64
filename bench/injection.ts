// Injection latency. (1) Inside the webhook: the handler on 10,000 pods, in process.
// (2) Through the real API server: 50 pod creations per second (server-side dry run, so the
// webhook is called but no pod is stored) against a control plane running as a host process;
// client-side latency of each create, and the webhook's own histogram from /metrics.
import { performance } from 'node:perf_hooks';
import { AdmissionregistrationV1Api, type V1Pod } from '@kubernetes/client-node';
import { loggerFor, setLogLevel } from '../src/util/logger.js';
import { injectionHandler } from '../src/webhooks/injection.js';
import { clusterAvailable, kube, run, devcluster, testNamespace, waitFor } from '../test/support/cluster.js';
import { startControlPlane } from '../test/support/control-plane.js';

setLogLevel('error');
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const fmt = (ms: number): string => `${ms.toFixed(3)} ms`;

function pod(i: number): V1Pod {
  return {
    metadata: { generateName: 'bench-', labels: { app: 'bench', i: String(i) }, annotations: { 'traffic.sidecar.istio.io/excludeInboundPorts': '9000' } },
    spec: { containers: [{ name: 'app', image: 'trellis/echo', ports: [{ containerPort: 8080 }] }] },
  };
}

// (1) in process
const handler = injectionHandler({ proxyImage: 'trellis/proxy', discoveryAddress: 'trellis.trellis-system.svc:15010', proxyUid: 1337, clusterDomain: 'cluster.local' }, loggerFor('bench'));
const inproc: number[] = [];
for (let i = 0; i < 10_000; i++) {
  const t = performance.now();
  handler({ uid: String(i), kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'bench', object: pod(i) });
  inproc.push(performance.now() - t);
}
const warm = inproc.slice(1000);
process.stdout.write(`in the webhook handler (10,000 pods, first 1,000 as warm-up): p50 ${fmt(pct(warm, 50))}  p99 ${fmt(pct(warm, 99))}  max ${fmt(Math.max(...warm))}\n`);

// (2) through the API server
if (!clusterAvailable() || (await run(devcluster, ['status'])).code !== 0) {
  process.stdout.write('devcluster not running: skipping the API server part (make cluster-up)\n');
  process.exit(0);
}
const { kc, core } = kube();
const admission = kc.makeApiClient(AdmissionregistrationV1Api);
const ns = testNamespace('bench-inject');
await core.createNamespace({ body: { metadata: { name: ns, labels: { 'trellis-injection': 'enabled' } } } });
const hook = `trellis-sidecar-injector-${ns}`;
const cp = await startControlPlane({ namespace: ns, validatingConfig: `trellis-validator-${ns}`, mutatingConfig: hook });
await admission.createMutatingWebhookConfiguration({
  body: {
    metadata: { name: hook },
    webhooks: [
      {
        name: 'bench.sidecar-injector.trellis.io',
        clientConfig: { url: `${cp.webhookUrl}/inject` },
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
        failurePolicy: 'Fail',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
      },
    ],
  },
});
await waitFor('caBundle', async () => !!(await admission.readMutatingWebhookConfiguration({ name: hook })).webhooks?.[0].clientConfig.caBundle);
await waitFor('injection live', async () => ((await core.createNamespacedPod({ namespace: ns, body: pod(0), dryRun: 'All' })).spec?.initContainers?.length ?? 0) > 0);
const before = await cp.metric('trellis_injection_seconds_count');
const api: number[] = [];
const seconds = 20;
const rate = 50;
const inflight: Promise<void>[] = [];
const start = performance.now();
for (let i = 0; i < seconds * rate; i++) {
  const due = start + (i * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  inflight.push(
    (async () => {
      const t = performance.now();
      const p = await core.createNamespacedPod({ namespace: ns, body: pod(i), dryRun: 'All' });
      if (!p.spec?.initContainers?.some((c) => c.name === 'trellis-proxy')) throw new Error('not injected');
      api.push(performance.now() - t);
    })(),
  );
}
await Promise.all(inflight);
const calls = (await cp.metric('trellis_injection_seconds_count')) - before;
const text = await (await fetch(`${cp.monitoring}/metrics`)).text();
const buckets = text
  .split('\n')
  .filter((l) => l.startsWith('trellis_injection_seconds_bucket'))
  .map((l) => `    ${l.replace(/\{[^}]*le="([^"]+)"[^}]*\}/, ' le=$1')}`);
process.stdout.write(`through the API server (${api.length} pod creations at ${rate}/s, dry run): p50 ${fmt(pct(api, 50))}  p99 ${fmt(pct(api, 99))}\n`);
process.stdout.write(`webhook calls counted: ${calls}; the webhook's own histogram (cumulative, seconds):\n${buckets.join('\n')}\n`);
await admission.deleteMutatingWebhookConfiguration({ name: hook });
await cp.stop();
await core.deleteNamespace({ name: ns });
