// Telemetry access logs in a pod: a workload Telemetry turns the client sidecar's access log on
// in Istio's text format (the built-in `envoy` provider), then in JSON (the chart's
// `json-stdout` envoyFileAccessLog provider), then off; the lines are read from the proxy
// container's log, where Envoy writes them (its stdout).
import { PROXY_NAME } from '../../src/webhooks/inject.js';
import { installTrellis } from '../support/install.js';
import { applyIstioObject, clusterAvailable, deleteIstioObject, echoFrom, kube, meshedEchoAndClient, testNamespace, waitFor } from '../support/cluster.js';

const ns = testNamespace('telemetry');
const { core } = kube();
const client = `${ns}/client`;

/** The lines the client's proxy container has written (its log, through the API and the kubelet). */
async function proxyLog(): Promise<string[]> {
  return (await core.readNamespacedPodLog({ namespace: ns, name: 'client', container: PROXY_NAME })).split('\n');
}

/** Sends requests with `marker` in the path until the proxy's log has a line with it. */
const loggedLine = (marker: string): Promise<string> =>
  waitFor(`an access log line for ${marker}`, async () => {
    await echoFrom(client, `http://echo:8080/${marker}`, 1);
    return (await proxyLog()).find((l) => l.includes(`/${marker}`));
  }, 30_000, 500);

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await installTrellis();
  await meshedEchoAndClient(ns);
});

afterAll(async () => {
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('no access log without a Telemetry', async () => {
  const [r] = await waitFor('a reply', async () => {
    const replies = await echoFrom(client, 'http://echo:8080/before-telemetry', 1);
    return replies[0]?.status === 200 ? replies : undefined;
  });
  expect(r.status).toBe(200);
  const log = await proxyLog();
  expect(log.some((l) => l.includes('starting envoy') || l.includes('envoy'))).toBe(true); // the right file
  expect(log.some((l) => l.includes('/before-telemetry'))).toBe(false);
});

test("a workload Telemetry turns the client's access log on in Istio's text format, then JSON, then off", async () => {
  await applyIstioObject(ns, 'Telemetry', 'client-logs', { selector: { matchLabels: { app: 'client' } }, accessLogging: [{ providers: [{ name: 'envoy' }] }] });
  const text = await loggedLine('text-format');
  // Istio's default text format: [start time] "METHOD path PROTOCOL" code flags ... upstream cluster ...
  expect(text).toMatch(/^\[\S+\] "GET \/text-format HTTP\/1\.1" 200 /);
  expect(text).toContain(`outbound|8080||echo.${ns}.svc.cluster.local`);

  await applyIstioObject(ns, 'Telemetry', 'client-logs', { selector: { matchLabels: { app: 'client' } }, accessLogging: [{ providers: [{ name: 'json-stdout' }] }] });
  const json = JSON.parse(await loggedLine('json-format')) as Record<string, unknown>;
  expect(json).toMatchObject({ method: 'GET', path: '/json-format', response_code: 200, upstream_cluster: `outbound|8080||echo.${ns}.svc.cluster.local` });

  await deleteIstioObject(ns, 'Telemetry', 'client-logs');
  // Once the listeners without the log are in place (a request that is not logged)...
  await waitFor('the log off', async () => {
    const marker = `off-${Date.now()}`;
    await echoFrom(client, `http://echo:8080/${marker}`, 1);
    return !(await proxyLog()).some((l) => l.includes(marker));
  }, 30_000, 500);
  // ...later requests are not logged either.
  await echoFrom(client, 'http://echo:8080/after-telemetry', 3);
  expect((await proxyLog()).some((l) => l.includes('/after-telemetry'))).toBe(false);
});
