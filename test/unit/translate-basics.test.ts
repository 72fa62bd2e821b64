// The small pieces of the sidecar translation: Istio's resource names, protocol by port,
// durations and percentages.
import { duration } from '../../src/translate/duration.js';
import { inboundClusterName, outboundClusterName, outboundListenerName, outboundRouteName } from '../../src/translate/names.js';
import { fractionalPercent } from '../../src/translate/percent.js';
import { isHttp2, listenerProtocol } from '../../src/model/protocol.js';
import { clusterPolicy } from '../../src/translate/traffic-policy.js';
import { protocolOfServicePort } from '../../src/model/mesh-services.js';

test('names follow Istio', () => {
  expect(outboundClusterName(80, 'reviews.default.svc.cluster.local')).toBe('outbound|80||reviews.default.svc.cluster.local');
  expect(outboundClusterName(80, 'reviews.default.svc.cluster.local', 'v1')).toBe('outbound|80|v1|reviews.default.svc.cluster.local');
  expect(inboundClusterName(9080)).toBe('inbound|9080||');
  expect(outboundListenerName(3306)).toBe('0.0.0.0_3306');
  expect(outboundRouteName(80)).toBe('80');
});

test.each([
  // Service port (name, appProtocol) → listener protocol, upstream HTTP/2
  ['http', undefined, 'http', false],
  ['http-web', undefined, 'http', false],
  ['http2', undefined, 'http', true],
  ['grpc', undefined, 'http', true],
  ['grpc-web', undefined, 'http', false],
  ['https', undefined, 'tcp', false],
  ['tls-x', undefined, 'tcp', false],
  ['tcp', undefined, 'tcp', false],
  ['mongo', undefined, 'tcp', false],
  ['web', undefined, 'tcp', false],
  ['', undefined, 'tcp', false],
  ['web', 'http', 'http', false],
  ['web', 'kubernetes.io/h2c', 'http', true],
  ['http', 'tcp', 'tcp', false],
] as const)('port %j appProtocol %j is %s (h2: %s)', (name, appProtocol, proto, h2) => {
  const p = protocolOfServicePort({ name, protocol: 'TCP', appProtocol });
  expect(listenerProtocol(p)).toBe(proto);
  expect(isHttp2(p)).toBe(h2);
});

test.each([
  ['1s', { seconds: 1, nanos: 0 }],
  ['0.5s', { seconds: 0, nanos: 500_000_000 }],
  ['100ms', { seconds: 0, nanos: 100_000_000 }],
  ['2m', { seconds: 120, nanos: 0 }],
  ['1h', { seconds: 3600, nanos: 0 }],
  ['bogus', undefined],
  [undefined, undefined],
])('duration %j', (text, want) => expect(duration(text)).toEqual(want));

test('percentages: float percent in millionths, legacy integers in hundredths, unset is 100%', () => {
  expect(fractionalPercent({ value: 12.5 })).toEqual({ numerator: 125000, denominator: 'MILLION' });
  expect(fractionalPercent(undefined, 30)).toEqual({ numerator: 30, denominator: 'HUNDRED' });
  expect(fractionalPercent(undefined)).toEqual({ numerator: 100, denominator: 'HUNDRED' });
});

test('traffic policy: port-level settings override the top level, a subset overrides both', () => {
  const spec = {
    host: 'x',
    trafficPolicy: {
      loadBalancer: { simple: 'ROUND_ROBIN' as const },
      outlierDetection: { consecutive5xxErrors: 3 },
      portLevelSettings: [{ port: { number: 81 }, loadBalancer: { simple: 'RANDOM' as const } }],
    },
    subsets: [{ name: 'v2', labels: { v: '2' }, trafficPolicy: { connectionPool: { tcp: { maxConnections: 5 } } } }],
  };
  expect(clusterPolicy(spec, 80).loadBalancer?.simple).toBe('ROUND_ROBIN');
  expect(clusterPolicy(spec, 81).loadBalancer?.simple).toBe('RANDOM');
  expect(clusterPolicy(spec, 81).outlierDetection?.consecutive5xxErrors).toBe(3);
  expect(clusterPolicy(spec, 81, 'v2')).toMatchObject({ loadBalancer: { simple: 'RANDOM' }, connectionPool: { tcp: { maxConnections: 5 } } });
  expect(clusterPolicy(undefined, 80)).toEqual({});
});
