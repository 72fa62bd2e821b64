// The Mesh facade over a ConfigStore and a ServiceRegistry: the questions the translate and
// controller stages ask, answered with Istio's semantics.
import type { NetworkingKind } from '../../src/api/common.js';
import { ConfigStore, type AnyConfig } from '../../src/model/config-store.js';
import { Mesh } from '../../src/model/mesh.js';
import { ServiceRegistry, type ServiceRecord } from '../../src/model/services.js';
import { config } from '../support/mesh-fixtures.js';

const cfg = (kind: NetworkingKind, namespace: string, name: string, spec: unknown): AnyConfig => config(kind, namespace, name, spec);
function svc(namespace: string, name: string, extra: Partial<Omit<ServiceRecord, 'hostname'>> = {}): Omit<ServiceRecord, 'hostname'> {
  return { namespace, name, clusterIP: '10.96.0.1', ports: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'TCP' }], labels: {}, selector: { app: name }, exportTo: [], ...extra };
}
function world(configs: AnyConfig[], services: Omit<ServiceRecord, 'hostname'>[]): { store: ConfigStore; registry: ServiceRegistry } {
  const store = new ConfigStore();
  for (const c of configs) store.upsert(c);
  const registry = new ServiceRegistry();
  for (const s of services) registry.upsertService(s);
  return { store, registry };
}

const REVIEWS = 'reviews.prod.svc.cluster.local';

describe('Mesh', () => {
  const { store, registry } = world(
    [
      cfg('VirtualService', 'prod', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] }),
      cfg('VirtualService', 'prod', 'reviews-later', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v2' } }] }] }),
      cfg('VirtualService', 'client', 'reviews-private', { hosts: [REVIEWS], exportTo: ['.'], http: [{ route: [{ destination: { host: REVIEWS, subset: 'v3' } }] }] }),
      cfg('DestinationRule', 'prod', 'reviews', { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }] }),
      cfg('DestinationRule', 'client', 'reviews-client', { host: REVIEWS, subsets: [{ name: 'v3', labels: { version: 'v3' } }] }),
      cfg('DestinationRule', 'trellis-system', 'mesh-mtls', { host: '*.local', trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } }),
      cfg('ServiceEntry', 'egress', 'wikipedia', { hosts: ['*.wikipedia.org'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], location: 'MESH_EXTERNAL', resolution: 'NONE' }),
      cfg('ServiceEntry', 'vm', 'db', { hosts: ['db.vm.internal'], ports: [{ number: 5432, name: 'tcp', protocol: 'TCP' }], resolution: 'STATIC', workloadSelector: { labels: { app: 'db' } } }),
      cfg('Gateway', 'istio-ingress', 'public', { servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*/shop.example.com'] }] }),
      cfg('VirtualService', 'shop', 'cart', { hosts: ['shop.example.com'], gateways: ['istio-ingress/public'], http: [{ match: [{ uri: { prefix: '/cart' } }], route: [{ destination: { host: 'cart' } }] }] }),
      cfg('VirtualService', 'shop', 'home', { hosts: ['shop.example.com'], gateways: ['istio-ingress/public'], http: [{ route: [{ destination: { host: 'home' } }] }] }),
      cfg('VirtualService', 'shop', 'search', { hosts: ['shop.example.com'], gateways: ['istio-ingress/public'], http: [{ match: [{ uri: { prefix: '/search' } }], route: [{ destination: { host: 'search' } }] }] }),
    ],
    [svc('prod', 'reviews'), svc('shop', 'cart'), svc('shop', 'home'), svc('shop', 'search'), svc('secret', 'vault', { exportTo: ['.'] })],
  );
  registry.upsertSlice('prod', 'reviews-abc', 'reviews', [{ address: '10.1.1.1', ready: true, ports: { http: 9080 }, labels: {} }]);
  registry.upsertPod({ namespace: 'prod', name: 'reviews-v1-0', ip: '10.1.1.1', labels: { app: 'reviews', version: 'v1' }, serviceAccount: 'reviews' });
  const pods = [{ namespace: 'vm', name: 'pg-0', ip: '10.9.0.1', labels: { app: 'db' }, serviceAccount: 'db' }];
  const mesh = new Mesh(store, registry, { pods: () => pods });

  test('defaults: root namespace trellis-system, the registry domain, exportTo *', () => {
    expect(mesh.rootNamespace).toBe('trellis-system');
    expect(mesh.domain).toBe('cluster.local');
    expect(mesh.exportToDefaults).toEqual({ virtualService: ['*'], destinationRule: ['*'], service: ['*'] });
    expect(mesh.resolveHost('reviews', 'prod')).toBe(REVIEWS);
  });

  test('a service lookup covers Kubernetes Services and ServiceEntry hosts', () => {
    expect(mesh.service(REVIEWS, 'client')?.source).toBe('Kubernetes');
    expect(mesh.service('en.wikipedia.org', 'client')).toMatchObject({ source: 'ServiceEntry', hostname: '*.wikipedia.org', namespace: 'egress' });
    expect(mesh.service('db.vm.internal', 'client')?.name).toBe('db');
    expect(mesh.service('vault.secret.svc.cluster.local', 'client')).toBeUndefined();
    expect(mesh.service('vault.secret.svc.cluster.local', 'secret')).toBeDefined();
  });

  test('endpoints: EndpointSlices with pod labels; ServiceEntry workloadSelector pods', () => {
    const reviews = mesh.service(REVIEWS, 'prod');
    expect(reviews && mesh.endpoints(reviews)).toEqual([{ address: '10.1.1.1', ports: { http: 9080 }, labels: { app: 'reviews', version: 'v1' }, ready: true, locality: undefined, network: undefined, weight: undefined, serviceAccount: 'reviews' }]);
    const db = mesh.service('db.vm.internal', 'x');
    expect(db && mesh.endpoints(db).map((e) => [e.address, e.ports])).toEqual([['10.9.0.1', { tcp: 5432 }]]);
  });

  test('DestinationRule lookup: client namespace, then the service namespace, then the root namespace', () => {
    expect(mesh.destinationRuleFor(REVIEWS, 'client')?.from).toEqual([{ namespace: 'client', name: 'reviews-client' }]);
    expect(mesh.destinationRuleFor(REVIEWS, 'other')?.from).toEqual([{ namespace: 'prod', name: 'reviews' }]);
    expect(mesh.destinationRuleFor('cart.shop.svc.cluster.local', 'other')?.from).toEqual([{ namespace: 'trellis-system', name: 'mesh-mtls' }]);
    expect(mesh.destinationRuleFor('en.wikipedia.org', 'other')).toBeUndefined();
    expect(mesh.destinationRulesFor(REVIEWS, 'other')).toHaveLength(1);
  });

  test('sidecar VirtualService for a host: private to the client first, else the oldest', () => {
    expect(mesh.sidecarVirtualServiceFor(REVIEWS, 'client')?.config.name).toBe('reviews-private');
    expect(mesh.sidecarVirtualServiceFor(REVIEWS, 'other')?.config.name).toBe('reviews');
    expect(mesh.sidecarVirtualServices('other').map((v) => v.config.name)).toEqual(['reviews', 'reviews-later']);
    // In namespace client the private one wins; everywhere else the older public one.
    expect(mesh.shadowing('prod', 'reviews-later').map((s) => [s.by.name, s.namespaces, s.otherNamespaces])).toEqual([
      ['reviews-private', ['client'], false],
      ['reviews', ['prod'], true],
    ]);
    expect(mesh.shadowing('prod', 'reviews')).toEqual([{ hostIndex: 0, host: REVIEWS, by: { namespace: 'client', name: 'reviews-private' }, reason: 'exported-closer', namespaces: ['client'], otherNamespaces: false, everywhere: false }]);
  });

  test('gateway routes merge the bound VirtualServices, catch-all last', () => {
    const [vh] = mesh.gatewayRoutes('istio-ingress/public');
    expect(vh.host).toBe('shop.example.com');
    expect(vh.routes.map((r) => r.source.name)).toEqual(['cart', 'search', 'home']);
    expect(mesh.gatewayRoutes('istio-ingress/missing')).toEqual([]);
  });

  test('a Mesh is a snapshot: build a new one after a change', () => {
    const before = new Mesh(store, registry);
    registry.upsertService(svc('prod', 'ratings'));
    expect(before.service('ratings.prod.svc.cluster.local', 'prod')).toBeUndefined();
    expect(new Mesh(store, registry).service('ratings.prod.svc.cluster.local', 'prod')).toBeDefined();
  });
});

describe('Mesh options', () => {
  test('root namespace, domain and exportTo defaults are configurable', () => {
    const { store, registry } = world(
      [cfg('DestinationRule', 'istio-system', 'mesh', { host: '*.local' }), cfg('VirtualService', 'a', 'v', { hosts: ['x.example.com'] })],
      [svc('a', 'web')],
    );
    const mesh = new Mesh(store, registry, { rootNamespace: 'istio-system', domain: 'cluster.local', exportToDefaults: { virtualService: ['.'], service: ['.'] } });
    expect(mesh.destinationRuleFor('web.a.svc.cluster.local', 'b')?.from[0].name).toBe('mesh');
    expect(mesh.sidecarVirtualServiceFor('x.example.com', 'a')).toBeDefined();
    expect(mesh.sidecarVirtualServiceFor('x.example.com', 'b')).toBeUndefined();
    expect(mesh.service('web.a.svc.cluster.local', 'b')).toBeUndefined();
    expect(mesh.service('web.a.svc.cluster.local', 'a')).toBeDefined();
    expect(mesh.exportToDefaults.destinationRule).toEqual(['*']);
  });
});
