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
  expect(injectPod(pod({ 'sidecar.istio.io/status': '{}' }), opts)).toMatchObject({ skipped: 'already injected' });
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

test.each([
  ['traffic.sidecar.istio.io/excludeInboundPorts', 'http', 'annotation traffic.sidecar.istio.io/excludeInboundPorts: "http" is not a port (1-65535)'],
  ['traffic.sidecar.istio.io/excludeOutboundIPRanges', '10.0.0.0/99', 'annotation traffic.sidecar.istio.io/excludeOutboundIPRanges: "10.0.0.0/99" is not an IPv4 address or CIDR'],
  ['sidecar.istio.io/proxyMemory', 'lots', 'annotation sidecar.istio.io/proxyMemory: "lots" is not a resource quantity (e.g. 100m, 128Mi)'],
])('an unusable %s admits the pod uninjected with a warning', (key, value, message) => {
  expect(injectPod(pod({ [key]: value }), opts)).toEqual({ skipped: 'bad annotation', warnings: [`trellis: sidecar not injected: ${message}`] });
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
