// A VirtualService change re-evaluates listeners and routes alone when the mesh has no Sidecar:
// clusters, endpoints and secrets are not built from VirtualServices then. Proven here the way
// it matters: for sidecars and a gateway, through many kinds of route change (new hosts,
// subsets, mirrors, delegates, TCP and TLS routes, a gateway binding, deletion), every type but
// listeners and routes translates to the same content before and after. With a Sidecar, whose
// imports follow its VirtualServices' destinations, the change re-evaluates every type.
import { MeshSource, ModelChanges } from '../../src/push/changes.js';
import type { Change } from '../../src/push/push-queue.js';
import { MeshSnapshotProvider } from '../../src/translate/provider.js';
import { parseNode, type ProxyInfo } from '../../src/xds/proxy-info.js';
import { TypeUrl } from '../../src/xds/types.js';
import type { AnyConfig } from '../../src/model/config-store.js';
import { buildSources, config, type ServiceFixture } from '../support/mesh-fixtures.js';

const ALL = new Set(Object.values(TypeUrl));
const UNTOUCHED = [TypeUrl.Cluster, TypeUrl.Endpoint, TypeUrl.Secret];

const svc = (namespace: string, name: string, ip: string, ports: ServiceFixture['ports'], address: string): ServiceFixture => ({ namespace, name, clusterIP: ip, ports, endpoints: [{ address }] });
const services = [
  svc('shop', 'web', '10.96.0.1', [{ name: 'http', port: 80, targetPort: 8080 }], '10.1.0.1'),
  svc('shop', 'reviews', '10.96.0.2', [{ name: 'http', port: 9080 }], '10.1.0.2'),
  svc('shop', 'ratings', '10.96.0.3', [{ name: 'http', port: 9080 }], '10.1.0.3'),
  svc('shop', 'db', '10.96.0.4', [{ name: 'tcp', port: 5432 }], '10.1.0.4'),
  svc('other', 'search', '10.96.1.1', [{ name: 'http', port: 80 }, { name: 'https', port: 443 }], '10.2.0.1'),
  svc('ingress', 'gw', '10.96.2.1', [{ name: 'http', port: 80 }], '10.3.0.1'),
];

const node = (id: string, labels: Record<string, string>): ProxyInfo =>
  parseNode({ id, metadata: { fields: { LABELS: { kind: 'structValue', structValue: { fields: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, { kind: 'stringValue', stringValue: v }])) } } } } } as never);
const proxies = [
  node('sidecar~10.1.0.1~web-0.shop~shop.svc.cluster.local', { app: 'web' }),
  node('sidecar~10.2.0.1~search-0.other~other.svc.cluster.local', { app: 'search' }),
  node('router~10.3.0.1~gw-0.ingress~ingress.svc.cluster.local', { istio: 'ingressgateway' }),
];

const baseConfigs: AnyConfig[] = [
  config('DestinationRule', 'shop', 'reviews', { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] }),
  config('ServiceEntry', 'shop', 'external', { hosts: ['api.example.com'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], resolution: 'DNS', location: 'MESH_EXTERNAL' }),
  config('Gateway', 'ingress', 'gw', { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] }),
  config('VirtualService', 'shop', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] }),
];

/** A new generation of a config (the store takes an unchanged generation for a status write). */
let generations = 1;
const vs = (namespace: string, name: string, spec: unknown): AnyConfig => ({ ...config('VirtualService', namespace, name, spec), generation: ++generations });

/** Route changes of every shape, applied one after the other. */
const routeChanges: Array<{ what: string; apply: (s: ReturnType<typeof buildSources>['store']) => ReturnType<typeof s.upsert> }> = [
  { what: 'a subset moves', apply: (s) => s.upsert(vs('shop', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v2' }, weight: 80 }, { destination: { host: 'ratings' }, weight: 20 }] }] })) },
  { what: 'a mirror and a fault', apply: (s) => s.upsert(vs('shop', 'reviews', { hosts: ['reviews'], http: [{ mirror: { host: 'search.other.svc.cluster.local' }, fault: { abort: { httpStatus: 503, percentage: { value: 1 } } }, route: [{ destination: { host: 'reviews' } }] }] })) },
  { what: 'a new host routed across namespaces', apply: (s) => s.upsert(vs('shop', 'alias', { hosts: ['alias.shop.svc.cluster.local', 'ratings'], http: [{ route: [{ destination: { host: 'search.other.svc.cluster.local', port: { number: 80 } } }] }] })) },
  { what: 'a TCP route', apply: (s) => s.upsert(vs('shop', 'db', { hosts: ['db'], tcp: [{ route: [{ destination: { host: 'db', port: { number: 5432 } }, weight: 90 }, { destination: { host: 'ratings', port: { number: 9080 } }, weight: 10 }] }] })) },
  { what: 'a TLS route from an external host to a service', apply: (s) => s.upsert(vs('shop', 'external', { hosts: ['api.example.com'], tls: [{ match: [{ port: 443, sniHosts: ['api.example.com'] }], route: [{ destination: { host: 'search.other.svc.cluster.local', port: { number: 443 } } }] }] })) },
  { what: 'a gateway-bound route', apply: (s) => s.upsert(vs('ingress', 'front', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: 'web.shop.svc.cluster.local' } }] }] })) },
  { what: 'a delegate and its root', apply: (s) => (s.upsert(vs('shop', 'delegate', { http: [{ route: [{ destination: { host: 'ratings' } }] }] })), s.upsert(vs('shop', 'web-root', { hosts: ['web'], http: [{ match: [{ uri: { prefix: '/r' } }], delegate: { name: 'delegate', namespace: 'shop' } }] }))) },
  { what: 'a route deleted', apply: (s) => s.delete('VirtualService', 'shop', 'reviews') },
];

test('without a Sidecar, no route change changes clusters, endpoints or secrets, and the push re-evaluates listeners and routes alone', () => {
  const { store, registry } = buildSources(services, baseConfigs);
  const source = new MeshSource(store, registry);
  const queued: Change[] = [];
  const connected = proxies.map((p) => ({ id: p.id, kind: p.kind, namespace: p.namespace, labels: p.labels }));
  const changes = new ModelChanges({ mesh: source, queue: { enqueue: (c) => queued.push(c) }, connected: () => connected, onSettled: () => undefined, settleMs: 1 });
  const translate = () => {
    const provider = new MeshSnapshotProvider(() => source.current());
    return proxies.map((p) => provider.snapshot(p, ALL));
  };
  let before = translate();
  for (const { what, apply } of routeChanges) {
    const change = apply(store);
    expect(change).toBeDefined();
    changes.onChange(change!);
    expect({ what, types: queued.pop()?.types }).toEqual({ what, types: [TypeUrl.Listener, TypeUrl.Route] });
    const after = translate();
    let routesMoved = false;
    after.forEach((snap, i) => {
      for (const t of UNTOUCHED) expect({ what, proxy: proxies[i].id, type: t, resources: [...(snap[t] ?? new Map()).entries()] }).toEqual({ what, proxy: proxies[i].id, type: t, resources: [...(before[i][t] ?? new Map()).entries()] });
      if (JSON.stringify([...(snap[TypeUrl.Route] ?? new Map()).values(), ...(snap[TypeUrl.Listener] ?? new Map()).values()]) !== JSON.stringify([...(before[i][TypeUrl.Route] ?? new Map()).values(), ...(before[i][TypeUrl.Listener] ?? new Map()).values()])) routesMoved = true;
    });
    // Each change is seen somewhere, so the check above compares translations that moved.
    expect({ what, routesMoved }).toEqual({ what, routesMoved: true });
    before = after;
  }
  changes.close();
});

test('with a Sidecar in the mesh, a route change re-evaluates every type: its imports follow the routes', () => {
  const sidecar = config('Sidecar', 'shop', 'default', { egress: [{ hosts: ['./*'] }] });
  const { store, registry } = buildSources(services, [...baseConfigs, sidecar]);
  const source = new MeshSource(store, registry);
  const queued: Change[] = [];
  const changes = new ModelChanges({ mesh: source, queue: { enqueue: (c) => queued.push(c) }, connected: () => [], onSettled: () => undefined, settleMs: 1 });
  const provider = () => new MeshSnapshotProvider(() => source.current());
  const clusters = () => [...(provider().snapshot(proxies[0], ALL)[TypeUrl.Cluster]?.keys() ?? [])];
  const SEARCH = 'outbound|80||search.other.svc.cluster.local';
  expect(clusters()).not.toContain(SEARCH);
  changes.onChange(routeChanges[2].apply(store)!);
  expect(queued.pop()?.types).toBeUndefined();
  expect(clusters()).toContain(SEARCH);
  changes.close();
});
