// Istio's metrics merging at injection: the pod is scraped at the agent, the app's own
// prometheus.io annotations handed to the agent; Istio's exceptions (scrape "false", merge-metrics
// "false", already pointed at the agent) leave the pod as written.
import type { V1Pod } from '@kubernetes/client-node';
import { injectPod, PROXY_NAME } from '../../src/webhooks/inject.js';
import { prometheusMerge } from '../../src/webhooks/prometheus-merge.js';

const opts = { proxyImage: 'trellis/proxy:1', discoveryAddress: 'trellis.trellis-system.svc:15010', proxyUid: 1337, clusterDomain: 'cluster.local' };
const AGENT = { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '15020', 'prometheus.io/path': '/stats/prometheus' };

function pod(annotations: Record<string, string> = {}): V1Pod {
  return { metadata: { generateName: 'echo-', namespace: 'ns', annotations }, spec: { containers: [{ name: 'app', image: 'trellis/echo' }] } };
}

function injected(annotations: Record<string, string>, o: Partial<typeof opts> & { prometheusMerge?: boolean } = {}): { annotations: Record<string, string>; env: Record<string, string> } {
  const r = injectPod(pod(annotations), { ...opts, ...o });
  if (!('injected' in r)) throw new Error(JSON.stringify(r));
  const proxy = r.injected.spec!.initContainers!.find((c) => c.name === PROXY_NAME)!;
  const a = { ...r.injected.metadata!.annotations! };
  delete a['sidecar.trellis.io/status'];
  delete a['kubectl.kubernetes.io/default-container'];
  return { annotations: a, env: Object.fromEntries((proxy.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!])) };
}

test('every injected pod is scrapeable at the agent, as Istio points Prometheus at its agent', () => {
  const r = injected({});
  expect(r.annotations).toEqual(AGENT);
  // Nothing of the app's to merge.
  expect(r.env.ISTIO_PROMETHEUS_ANNOTATIONS).toBeUndefined();
});

test("the app's own annotations are remembered for the agent, in Istio's format, and replaced", () => {
  const r = injected({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9102', 'prometheus.io/path': '/custom', team: 'a' });
  expect(r.annotations).toEqual({ ...AGENT, team: 'a' });
  expect(JSON.parse(r.env.ISTIO_PROMETHEUS_ANNOTATIONS)).toEqual({ scrape: 'true', path: '/custom', port: '9102' });
  // Only a port: the agent applies Istio's defaults for the rest.
  expect(JSON.parse(injected({ 'prometheus.io/port': '8080' }).env.ISTIO_PROMETHEUS_ANNOTATIONS)).toEqual({ scrape: '', path: '', port: '8080' });
});

test('any spelling Prometheus reads as the same annotation counts, and is removed (else Prometheus would pick one at random)', () => {
  const r = injected({ 'prometheus.io.scrape': 'true', 'prometheus-io/port': '9000', 'prometheus.io/path': '/m' });
  expect(r.annotations).toEqual(AGENT);
  expect(JSON.parse(r.env.ISTIO_PROMETHEUS_ANNOTATIONS)).toEqual({ scrape: 'true', path: '/m', port: '9000' });
});

test('prometheus.io/scrape "false" is respected: the pod is not made scrapeable', () => {
  for (const v of ['false', 'False', '0', 'f']) {
    const r = injected({ 'prometheus.io/scrape': v, 'prometheus.io/port': '9102' });
    expect(r.annotations).toEqual({ 'prometheus.io/scrape': v, 'prometheus.io/port': '9102' });
    expect(r.env.ISTIO_PROMETHEUS_ANNOTATIONS).toBeUndefined();
  }
});

test('merge-metrics "false" (Istio\'s or Trellis\'s name), or the mesh option off, keeps the annotations as written', () => {
  const own = { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9102' };
  expect(injected({ ...own, 'prometheus.istio.io/merge-metrics': 'false' }).annotations).toEqual({ ...own, 'prometheus.istio.io/merge-metrics': 'false' });
  expect(injected({ ...own, 'prometheus.trellis.io/merge-metrics': 'false' }).env.ISTIO_PROMETHEUS_ANNOTATIONS).toBeUndefined();
  expect(injected(own, { prometheusMerge: false }).annotations).toEqual(own);
  // The annotation wins over the mesh option, either way.
  expect(injected({ ...own, 'prometheus.istio.io/merge-metrics': 'true' }, { prometheusMerge: false }).annotations).toMatchObject(AGENT);
  expect(prometheusMerge(pod({ ...own, 'prometheus.istio.io/merge-metrics': 'true' }), false).annotations).toMatchObject(AGENT);
});

test('a pod already pointed at the agent is left as it is (a second injection would make the agent scrape itself)', () => {
  expect(prometheusMerge(pod(AGENT))).toEqual({ annotations: AGENT, env: [] });
});

test('an unusable merge-metrics value rejects the pod, naming the annotation', () => {
  const r = injectPod(pod({ 'prometheus.istio.io/merge-metrics': 'sometimes' }), opts);
  expect(r).toEqual({ rejected: expect.stringContaining('annotation prometheus.istio.io/merge-metrics: "sometimes" is not true or false') });
});
