import type { V1Pod } from '@kubernetes/client-node';
import jsonpatch from 'fast-json-patch';
import { injectPod, PROXY_NAME, INIT_NAME, STATUS_ANNOTATION } from '../../src/webhooks/inject.js';
import { injectionHandler } from '../../src/webhooks/injection.js';
import { loggerFor } from '../../src/util/logger.js';

const opts = { proxyImage: 'trellis/proxy:1', discoveryAddress: 'trellis.trellis-system.svc:15010', proxyUid: 1337, clusterDomain: 'cluster.local' };

function pod(annotations: Record<string, string> = {}, labels: Record<string, string> = {}): V1Pod {
  return { metadata: { generateName: 'echo-', namespace: 'ns', annotations, labels }, spec: { containers: [{ name: 'app', image: 'trellis/echo' }] } };
}

test('injects the init container and the proxy as a native sidecar, as UID 1337', () => {
  const r = injectPod(pod(), opts);
  if (!('injected' in r)) throw new Error('not injected');
  const [init, proxy] = r.injected.spec!.initContainers!;
  expect(init.name).toBe(INIT_NAME);
  expect(init.securityContext?.capabilities?.add).toEqual(['NET_ADMIN', 'NET_RAW']);
  expect(proxy.name).toBe(PROXY_NAME);
  expect(proxy.restartPolicy).toBe('Always');
  expect(proxy.securityContext).toMatchObject({ runAsUser: 1337, runAsGroup: 1337, runAsNonRoot: true });
  expect(proxy.securityContext?.capabilities?.add).toBeUndefined();
  expect(r.injected.spec!.containers).toEqual([{ name: 'app', image: 'trellis/echo' }]);
  expect(JSON.parse(r.injected.metadata!.annotations![STATUS_ANNOTATION])).toMatchObject({ initContainers: [INIT_NAME, PROXY_NAME] });
});

test('injection is idempotent: an injected pod is left alone, as is one injected by Istio', () => {
  const r = injectPod(pod(), opts);
  if (!('injected' in r)) throw new Error('not injected');
  expect(injectPod(r.injected, opts)).toEqual({ skipped: 'already injected', warnings: [] });
  const byIstio = pod({ 'sidecar.istio.io/status': '{}' });
  byIstio.spec!.containers.push({ name: 'istio-proxy', image: 'istio/proxyv2' });
  expect(injectPod(byIstio, opts)).toMatchObject({ skipped: 'already injected' });
});

test.each([
  [{}, { 'sidecar.trellis.io/inject': 'false' }],
  [{}, { 'sidecar.istio.io/inject': 'false' }],
  [{ 'sidecar.istio.io/inject': 'false' }, {}],
])('opt-out %j %j', (annotations, labels) => {
  expect(injectPod(pod(annotations, labels), opts)).toMatchObject({ skipped: expect.stringContaining('opted out') });
});

test('traffic annotations (Istio and Trellis names) become capture flags', () => {
  const r = injectPod(pod({ 'traffic.sidecar.istio.io/excludeInboundPorts': '9000, 9001', 'traffic.sidecar.trellis.io/excludeOutboundIPRanges': '10.96.0.1' }), opts);
  if (!('injected' in r)) throw new Error('not injected');
  expect(r.injected.spec!.initContainers![0].args).toEqual(['--proxy-uid=1337', '--proxy-gid=1337', '--exclude-inbound-ports=9000,9001', '--exclude-outbound-cidrs=10.96.0.1']);
});

test('proxy resources come from annotations with sane defaults', () => {
  const r = injectPod(pod({ 'sidecar.istio.io/proxyCPU': '200m', 'sidecar.istio.io/proxyMemoryLimit': '256Mi' }), opts);
  if (!('injected' in r)) throw new Error('not injected');
  expect(r.injected.spec!.initContainers![1].resources).toEqual({ requests: { cpu: '200m', memory: '40Mi' }, limits: { memory: '256Mi' } });
});

test('interceptionMode NONE: no init container (no capture, no NET_ADMIN), and the proxy told so', () => {
  for (const key of ['sidecar.istio.io/interceptionMode', 'sidecar.trellis.io/interceptionMode']) {
    const r = injectPod(pod({ [key]: 'NONE' }), opts);
    if (!('injected' in r)) throw new Error('not injected');
    expect(r.injected.spec!.initContainers!.map((c) => c.name)).toEqual([PROXY_NAME]);
    expect(JSON.stringify(r.injected)).not.toContain('NET_ADMIN');
    expect(r.injected.spec!.initContainers![0].env).toContainEqual({ name: 'TRELLIS_INTERCEPTION_MODE', value: 'NONE' });
    expect(JSON.parse(r.injected.metadata!.annotations![STATUS_ANNOTATION])).toMatchObject({ initContainers: [PROXY_NAME] });
    expect(r.warnings).toEqual([]);
  }
  const withCapture = injectPod(pod({ 'sidecar.istio.io/interceptionMode': 'NONE', 'traffic.sidecar.istio.io/excludeInboundPorts': '9000' }), opts);
  expect(withCapture).toMatchObject({ warnings: ['annotation traffic.sidecar.istio.io/excludeInboundPorts has no effect: sidecar.istio.io/interceptionMode is NONE, so the pod\'s traffic is not captured'] });
  const redirect = injectPod(pod({ 'sidecar.istio.io/interceptionMode': 'REDIRECT' }), opts);
  if (!('injected' in redirect)) throw new Error('not injected');
  expect(redirect.injected.spec!.initContainers!.map((c) => c.name)).toEqual([INIT_NAME, PROXY_NAME]);
  expect(redirect.injected.spec!.initContainers![1].env?.map((e) => e.name)).not.toContain('TRELLIS_INTERCEPTION_MODE');
});

test('interceptionMode TPROXY is captured with REDIRECT, and the handler says so to kubectl', () => {
  const r = injectPod(pod({ 'sidecar.istio.io/interceptionMode': 'TPROXY' }), opts);
  if (!('injected' in r)) throw new Error('not injected');
  expect(r.injected.spec!.initContainers!.map((c) => c.name)).toEqual([INIT_NAME, PROXY_NAME]);
  const warning = 'annotation sidecar.istio.io/interceptionMode: TPROXY is captured with REDIRECT by Trellis: the app sees its inbound connections come from 127.0.0.6, not from the client\'s address';
  expect(r.warnings).toEqual([warning]);
  const res = injectionHandler(opts, loggerFor('test'))({ uid: 'u3', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'ns', object: pod({ 'sidecar.istio.io/interceptionMode': 'TPROXY' }) });
  expect(res).toMatchObject({ allowed: true, patchType: 'JSONPatch', warnings: [warning] });
});

test.each([
  ['traffic.sidecar.istio.io/excludeInboundPorts', 'http', 'annotation traffic.sidecar.istio.io/excludeInboundPorts: "http" is not a port (1-65535)'],
  ['traffic.sidecar.istio.io/excludeOutboundIPRanges', '10.0.0.0/99', 'annotation traffic.sidecar.istio.io/excludeOutboundIPRanges: "10.0.0.0/99" is not an IPv4 address or CIDR'],
  ['sidecar.istio.io/proxyMemory', 'lots', 'annotation sidecar.istio.io/proxyMemory: "lots" is not a resource quantity (e.g. 100m, 128Mi)'],
  ['sidecar.istio.io/interceptionMode', 'none', 'annotation sidecar.istio.io/interceptionMode: "none" is not an interception mode (REDIRECT, TPROXY or NONE)'],
])('an unusable %s rejects the pod, naming the annotation (never admitted outside the mesh)', (key, value, message) => {
  expect(injectPod(pod({ [key]: value }), opts)).toEqual({ rejected: `${message}; fix or remove it, or opt the pod out with the label sidecar.istio.io/inject: "false"` });
});

test('a forged injection status (the annotation without the proxy) is rejected; a real one or an opt-out is not', () => {
  for (const key of ['sidecar.trellis.io/status', 'sidecar.istio.io/status']) {
    const r = injectPod(pod({ [key]: '{}' }), opts);
    expect(r).toEqual({ rejected: expect.stringContaining(`annotation ${key} says the pod is injected, but it has no trellis-proxy container`) });
  }
  const opted = pod({ 'sidecar.istio.io/status': '{}' });
  opted.metadata!.labels = { 'sidecar.istio.io/inject': 'false' };
  expect(injectPod(opted, opts)).toMatchObject({ skipped: expect.stringContaining('opted out') });
  const injected = injectPod(pod(), opts);
  if (!('injected' in injected)) throw new Error('not injected');
  expect(injectPod(injected.injected, opts)).toMatchObject({ skipped: 'already injected' });
});

test('the handler refuses a pod it cannot inject, with the reason', () => {
  const res = injectionHandler(opts, loggerFor('test'))({ uid: 'u2', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'ns', object: pod({ 'sidecar.istio.io/proxyMemory': 'lots' }) });
  expect(res).toEqual({ uid: 'u2', allowed: false, status: { code: 400, reason: 'BadRequest', message: expect.stringContaining('trellis: sidecar injection: annotation sidecar.istio.io/proxyMemory: "lots" is not a resource quantity') } });
});

test('the handler answers with a JSON Patch that turns the pod into the injected pod', () => {
  const handler = injectionHandler(opts, loggerFor('test'));
  const original = pod();
  const res = handler({ uid: 'u1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'ns', object: original });
  expect(res).toMatchObject({ uid: 'u1', allowed: true, patchType: 'JSONPatch' });
  const ops = JSON.parse(Buffer.from(res.patch!, 'base64').toString()) as jsonpatch.Operation[];
  const patched = jsonpatch.applyPatch(structuredClone(original), ops).newDocument;
  expect(patched.spec!.initContainers!.map((c) => c.name)).toEqual([INIT_NAME, PROXY_NAME]);
});
