// Metrics in pods, scraped as Prometheus would: the injector points the pod's prometheus.io
// annotations at the agent (15020 /stats/prometheus), and after known traffic from the client to
// the echo Service — 15 answered 200, 5 answered 503 by the echo app — the client's scrape gives
// exactly those counts for the destination service, per code, with the client's own workload.
import { installTrellis } from '../support/install.js';
import { clusterAvailable, echoFrom, kube, meshedEchoAndClient, proxyPage, testNamespace, waitFor } from '../support/cluster.js';
import { parsePrometheus, type Sample } from '../support/prometheus.js';

const ns = testNamespace('metrics');
const { core } = kube();
const client = `${ns}/client`;
const host = `echo.${ns}.svc.cluster.local`;

const requests = (samples: Sample[], code: string): number[] =>
  samples.filter((s) => s.name === 'envoy_cluster_upstream_rq' && s.labels.destination_service === host && s.labels.response_code === code).map((s) => s.value);

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await installTrellis();
  await meshedEchoAndClient(ns);
  // The echo endpoint in the client's Envoy before any request (each request counts).
  await waitFor('the echo endpoint at the client', async () => {
    const stats = await proxyPage(client, `http://127.0.0.1:15000/stats?filter=${encodeURIComponent(`^cluster.outbound\\|8080\\|\\|${host}.membership_healthy$`)}`);
    return /membership_healthy: 1/.test(stats);
  });
});

afterAll(async () => {
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('the injected pod is scrapeable the way Istio pods are', async () => {
  const pod = await core.readNamespacedPod({ namespace: ns, name: 'client' });
  expect(pod.metadata?.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '15020', 'prometheus.io/path': '/stats/prometheus' });
});

test('known traffic gives exact counts per destination service and code in the client scrape', async () => {
  const ok = await echoFrom(client, 'http://echo:8080/ok', 15);
  const failed = await echoFrom(client, 'http://echo:8080/fail', 5, ['x-echo-status: 503']);
  // A request that failed shows its error (the client's own: the connection to its sidecar).
  expect(ok.map((r) => r.status ?? r.error)).toEqual(Array(15).fill(200));
  expect(failed.map((r) => r.status ?? r.error)).toEqual(Array(5).fill(503));
  const samples = parsePrometheus(await proxyPage(client, 'http://127.0.0.1:15020/stats/prometheus'));
  expect(requests(samples, '200')).toEqual([15]);
  expect(requests(samples, '503')).toEqual([5]);
  // Who reported: the client's own workload and namespace on its outbound stats.
  const first = samples.find((s) => s.name === 'envoy_cluster_upstream_rq' && s.labels.destination_service === host);
  expect(first?.labels).toMatchObject({ direction: 'outbound', destination_port: '8080', workload: 'client', workload_namespace: ns });
});
