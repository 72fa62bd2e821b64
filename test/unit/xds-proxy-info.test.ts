// Node ids and metadata, as Istio's proxies and proxyless gRPC clients send them.
import { parseNode } from '../../src/xds/proxy-info.js';
import { decodeMessage, encodeMessage } from '../../src/xds/protos.js';
import type { Node__Output } from '../../src/xds/generated/envoy/config/core/v3/Node.js';

/** A Node as the server sees it: encoded and decoded like a request's. */
function node(obj: object): Node__Output {
  return decodeMessage<Node__Output>('envoy.config.core.v3.Node', encodeMessage('envoy.config.core.v3.Node', obj));
}

function struct(fields: Record<string, unknown>): object {
  const value = (v: unknown): object =>
    typeof v === 'string' ? { stringValue: v } : typeof v === 'number' ? { numberValue: v } : typeof v === 'boolean' ? { boolValue: v } : { structValue: struct(v as Record<string, unknown>) };
  return { fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, value(v)])) };
}

test('a sidecar: type, IP, pod, namespace and domain from the id; labels and more from metadata', () => {
  const info = parseNode(
    node({
      id: 'sidecar~10.244.1.7~reviews-v1-5d8f.default~default.svc.cluster.local',
      cluster: 'reviews.default',
      user_agent_name: 'envoy',
      user_agent_build_version: { version: { major_number: 1, minor_number: 36, patch: 4 } },
      metadata: struct({ LABELS: { app: 'reviews', version: 'v1' }, INSTANCE_IPS: '10.244.1.7,fd00::7', ISTIO_VERSION: '1.27.0' }),
      locality: { region: 'eu', zone: 'eu-1a' },
    }),
  );
  expect(info).toMatchObject({
    id: 'sidecar~10.244.1.7~reviews-v1-5d8f.default~default.svc.cluster.local',
    kind: 'sidecar',
    ip: '10.244.1.7',
    ips: ['10.244.1.7', 'fd00::7'],
    podName: 'reviews-v1-5d8f',
    namespace: 'default',
    dnsDomain: 'default.svc.cluster.local',
    labels: { app: 'reviews', version: 'v1' },
    cluster: 'reviews.default',
    userAgent: 'envoy/1.36.4',
    locality: { region: 'eu', zone: 'eu-1a', subZone: '' },
  });
  expect(info.metadata.ISTIO_VERSION).toBe('1.27.0');
});

test('a gateway is a router; metadata NAME and NAMESPACE win over the id', () => {
  const info = parseNode(node({ id: 'router~10.0.0.5~ingress-abc.istio-system~istio-system.svc.cluster.local', metadata: struct({ NAME: 'ingress-abc', NAMESPACE: 'istio-system' }) }));
  expect(info).toMatchObject({ kind: 'router', podName: 'ingress-abc', namespace: 'istio-system' });
});

test('a proxyless gRPC client is recognised by GENERATOR or its user agent; other ids parse as unknown', () => {
  expect(parseNode(node({ id: 'sidecar~10.0.0.6~app.ns~ns.svc.cluster.local', metadata: struct({ GENERATOR: 'grpc' }) })).kind).toBe('proxyless');
  expect(parseNode(node({ id: 'whatever', user_agent_name: 'gRPC Node Pure JS', user_agent_version: '1.14.1' }))).toMatchObject({ kind: 'proxyless', userAgent: 'gRPC Node Pure JS/1.14.1' });
  expect(parseNode(node({ id: 'test-envoy' }))).toMatchObject({ kind: 'unknown', ip: undefined, podName: undefined });
  expect(parseNode(undefined).id).toBe('');
});

test("INTERCEPTION_MODE NONE marks a pod without capture; Istio's other modes (and none) are captured", () => {
  const id = 'sidecar~10.0.0.6~app.ns~ns.svc.cluster.local';
  expect(parseNode(node({ id, metadata: struct({ INTERCEPTION_MODE: 'NONE' }) })).interception).toBe('NONE');
  for (const mode of ['REDIRECT', 'TPROXY', '']) expect(parseNode(node({ id, metadata: struct({ INTERCEPTION_MODE: mode }) })).interception).toBeUndefined();
  expect(parseNode(node({ id })).interception).toBeUndefined();
});
