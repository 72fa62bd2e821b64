// A change a Sidecar cannot see is not pushed to its proxies at all (Istio's SidecarScope
// DependsOnConfig, conservatively): their configuration is not even re-evaluated.
import { ConfigStore, type AnyConfig } from '../../src/model/config-store.js';
import { MeshSource, ModelChanges, outsideSidecarScopes, type ProxyRef } from '../../src/push/changes.js';
import type { Change } from '../../src/push/push-queue.js';
import { buildMesh, buildSources, config, type ServiceFixture } from '../support/mesh-fixtures.js';

const services: ServiceFixture[] = [
  { namespace: 'a', name: 'web', clusterIP: '10.96.1.1', ports: [{ name: 'http', port: 80 }] },
  { namespace: 'b', name: 'reviews', clusterIP: '10.96.2.1', ports: [{ name: 'http', port: 9080 }] },
  { namespace: 'c', name: 'details', clusterIP: '10.96.3.1', ports: [{ name: 'http', port: 9080 }] },
];
const onlyOwn = config('Sidecar', 'a', 'default', { egress: [{ hosts: ['./*'] }] });
const proxies: ProxyRef[] = [
  { id: 'a-web', kind: 'sidecar', namespace: 'a', labels: { app: 'web' } },
  { id: 'b-any', kind: 'sidecar', namespace: 'b', labels: {} },
  { id: 'gw', kind: 'router', namespace: 'a', labels: {} },
  { id: 'grpc', kind: 'proxyless', namespace: 'a', labels: {} },
];
const upsert = (c: AnyConfig) => ({ kind: c.kind, namespace: c.namespace, name: c.name, hosts: (c.spec as { hosts?: string[] }).hosts ?? ((c.spec as { host?: string }).host ? [(c.spec as { host: string }).host] : []), op: 'upsert' as const, after: c.spec }) as Parameters<typeof outsideSidecarScopes>[0];
const skipped = (change: AnyConfig, configs: AnyConfig[] = []) => [...outsideSidecarScopes(upsert(change), buildMesh(services, [onlyOwn, ...configs]), proxies)];

test("another namespace's VirtualService, ServiceEntry or DestinationRule skips a ./* proxy, and only it", () => {
  expect(skipped(config('VirtualService', 'b', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] }))).toEqual(['a-web']);
  expect(skipped(config('DestinationRule', 'b', 'reviews', { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }))).toEqual(['a-web']);
  expect(skipped(config('ServiceEntry', 'c', 'ext', { hosts: ['api.example.com'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], resolution: 'DNS' }))).toEqual(['a-web']);
});

test('what the scope imports, or routes to, is pushed', () => {
  expect(skipped(config('VirtualService', 'a', 'web', { hosts: ['web'], http: [{ route: [{ destination: { host: 'web' } }] }] }))).toEqual([]);
  expect(skipped(config('DestinationRule', 'a', 'web', { host: 'web', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }))).toEqual([]);
  // web's VirtualService (imported) routes to details in c: a rule for details concerns the proxy.
  const route = config('VirtualService', 'a', 'web', { hosts: ['web'], http: [{ route: [{ destination: { host: 'details.c.svc.cluster.local' } }] }] });
  expect(skipped(config('DestinationRule', 'c', 'details', { host: 'details', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }), [route])).toEqual([]);
  // A wildcard rule that could cover an import.
  expect(skipped(config('DestinationRule', 'b', 'all', { host: '*.svc.cluster.local', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }))).toEqual([]);
});

test('a delegate VirtualService (no hosts) reaches everyone', () => {
  expect(skipped(config('VirtualService', 'b', 'delegate', { http: [{ route: [{ destination: { host: 'reviews' } }] }] }))).toEqual([]);
});

test('without any Sidecar nothing is skipped', () => {
  const change = upsert(config('VirtualService', 'b', 'reviews', { hosts: ['reviews'] }));
  expect([...outsideSidecarScopes(change, buildMesh(services, []), proxies)]).toEqual([]);
});

test('ModelChanges leaves the skipped proxies out of the push it queues', () => {
  const { store, registry } = buildSources(services, [onlyOwn]);
  const queued: Change[] = [];
  const changes = new ModelChanges({ mesh: new MeshSource(store, registry), queue: { enqueue: (c) => queued.push(c) }, connected: () => proxies, onSettled: () => undefined, settleMs: 10 });
  const vs = config('VirtualService', 'b', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] });
  const set = store.upsert(vs)!;
  expect([...outsideSidecarScopes(set, new MeshSource(store, registry).current(), proxies)]).toEqual(['a-web']);
  changes.onChange(set);
  changes.close();
  expect(queued).toEqual([{ reason: 'config', proxies: ['b-any', 'gw', 'grpc'] }]);
  expect(store).toBeInstanceOf(ConfigStore);
});
