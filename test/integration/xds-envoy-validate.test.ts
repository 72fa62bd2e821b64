// `envoy --mode validate` on the bootstraps the tests use, and on the exact bytes the xDS server
// sends for the test resources (as static resources of a binary bootstrap).
import { jest } from '@jest/globals';
import { EncodedResource } from '../../src/xds/encoded-resource.js';
import { encodeMessage } from '../../src/xds/protos.js';
import { bootstrap, staticResourcesBootstrap, validateBootstrap } from '../support/envoy.js';
import { configSource, edsCluster, httpConnectionManager, httpListener, rejectedListener, routeConfiguration } from '../support/envoy-resources.js';
import { messageName, TypeUrl, type ResourceOf } from '../../src/xds/types.js';

jest.setTimeout(120_000);

function encoded<T extends TypeUrl>(t: T, name: string, msg: ResourceOf[T]): EncodedResource {
  return new EncodedResource(t, name, encodeMessage(messageName(t), msg));
}

test.each([
  ['ADS, state of the world', { apiType: 'GRPC' as const }],
  ['ADS, delta', { apiType: 'DELTA_GRPC' as const }],
  ['per-type services', { apiType: 'GRPC' as const, ads: false }],
])('the %s bootstrap is valid', async (_name, opts) => {
  const r = await validateBootstrap({ json: bootstrap({ nodeId: 'sidecar~127.0.0.1~v.default~default.svc.cluster.local', xdsPort: 15010, ...opts }) });
  expect(r.output).toMatch(/OK/);
  expect(r.code).toBe(0);
});

test('the encoded test resources are valid Envoy configuration', async () => {
  const inlineRoutes = { ...httpConnectionManager('r'), rds: undefined, route_config: routeConfiguration('r', [{ prefix: '/', weights: { a: 80, b: 20 }, responseHeader: ['x-route', 'split'] }]) };
  const r = await validateBootstrap({
    binary: staticResourcesBootstrap({
      clusters: [encoded(TypeUrl.Cluster, 'a', edsCluster('a')), encoded(TypeUrl.Cluster, 'b', edsCluster('b', configSource({ grpcCluster: 'xds-grpc' })))],
      listeners: [encoded(TypeUrl.Listener, 'http', httpListener('http', 18080, 'r')), encoded(TypeUrl.Listener, 'inline', httpListener('inline', 18081, 'r', { hcm: inlineRoutes }))],
    }),
    json: bootstrap({ nodeId: 'validate', xdsPort: 15010 }),
  });
  expect(r.output).toMatch(/OK/);
  expect(r.code).toBe(0);
});

test('the listener the NACK tests use is one Envoy rejects', async () => {
  const r = await validateBootstrap({
    binary: staticResourcesBootstrap({ listeners: [encoded(TypeUrl.Listener, 'bad', rejectedListener('bad', 18082, 'r'))] }),
    json: bootstrap({ nodeId: 'validate', xdsPort: 15010 }),
  });
  expect(r.code).not.toBe(0);
  expect(r.output).toMatch(/StatPrefix/);
});
