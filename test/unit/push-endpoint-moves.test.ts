// An EndpointSlice change keeps the mesh snapshot (MeshSource.endpointsMoved) when the clusters
// built from it still hold the endpoints' identities: only the moved services' assignments are
// built again, every other resource stays the same object, and what a proxy gets equals a fresh
// translation. A new service account among the endpoints replaces the snapshot and pushes
// clusters too, as Istio does.
import { MeshSource, ModelChanges } from '../../src/push/changes.js';
import type { Change } from '../../src/push/push-queue.js';
import { DEFAULT_SIDECAR_OPTIONS } from '../../src/translate/input.js';
import { SidecarShare } from '../../src/translate/outbound.js';
import { sidecarSnapshot } from '../../src/translate/snapshot.js';
import { TypeUrl, type Cluster } from '../../src/xds/types.js';
import type { Mesh } from '../../src/model/mesh.js';
import { buildSources, sidecar, upsertEndpoints, type ServiceFixture } from '../support/mesh-fixtures.js';

const ALL = new Set(Object.values(TypeUrl));
const reviews: ServiceFixture = { namespace: 'shop', name: 'reviews', clusterIP: '10.96.0.1', ports: [{ name: 'http', port: 9080 }], endpoints: [{ address: '10.1.0.1' }] };
const web: ServiceFixture = { namespace: 'shop', name: 'web', clusterIP: '10.96.0.2', ports: [{ name: 'http', port: 80, targetPort: 8080 }], endpoints: [{ address: '10.1.0.9' }] };
const REVIEWS = 'outbound|9080||reviews.shop.svc.cluster.local';
const WEB = 'outbound|80||web.shop.svc.cluster.local';
const proxy = sidecar('shop', { app: 'web' }, '10.1.0.9');

/** A cluster's packed TLS contexts as text (where the SANs it verifies are). */
const tlsText = (cluster: Cluster | undefined): string => (cluster?.transport_socket_matches ?? []).map((m) => Buffer.from((m.transport_socket?.typed_config as { value?: Uint8Array } | undefined)?.value ?? []).toString('latin1')).join('\n');

/** The pods behind the addresses: the registry takes an endpoint's service account from its pod. */
const pods = [
  { name: 'reviews-1', ip: '10.1.0.1', serviceAccount: 'reviews' },
  { name: 'reviews-2', ip: '10.1.0.2', serviceAccount: 'reviews' },
  { name: 'reviews-3', ip: '10.1.0.3', serviceAccount: 'reviews-v2' },
  { name: 'web-1', ip: '10.1.0.9', serviceAccount: 'web' },
];

function setup() {
  const { store, registry } = buildSources([reviews, web]);
  for (const p of pods) registry.upsertPod({ namespace: 'shop', labels: { app: p.name.split('-')[0] }, ...p });
  const source = new MeshSource(store, registry);
  const queued: Change[] = [];
  const changes = new ModelChanges({ mesh: source, queue: { enqueue: (c) => queued.push(c) }, connected: () => [], onSettled: () => undefined, settleMs: 10 });
  const share = new SidecarShare(DEFAULT_SIDECAR_OPTIONS);
  const snap = (mesh: Mesh = source.current()) => sidecarSnapshot(mesh, proxy, {}, ALL, share);
  /** What a proxy gets from a mesh built afresh, with no cache. */
  const fresh = () => sidecarSnapshot(new MeshSource(store, registry).current(), proxy, {}, ALL);
  return { registry, source, queued, changes, snap, fresh };
}

test('an endpoint move keeps the snapshot, builds again only the moved assignment, and equals a fresh translation', () => {
  const { registry, source, queued, changes, snap, fresh } = setup();
  const mesh = source.current();
  const before = snap();
  const epoch = source.epoch;

  const moved = registry.upsertSlice('shop', 'reviews-slice', 'reviews', [{ address: '10.1.0.2', ready: true, labels: {}, ports: { http: 9080 } }]);
  changes.onChange(moved);
  changes.close();

  expect(queued).toEqual([{ reason: 'endpoints', types: [TypeUrl.Endpoint] }]);
  expect(source.current()).toBe(mesh);
  expect(source.epoch).toBe(epoch + 1);
  const after = snap();
  expect(after[TypeUrl.Endpoint]?.get(REVIEWS)).not.toBe(before[TypeUrl.Endpoint]?.get(REVIEWS));
  expect(JSON.stringify(after[TypeUrl.Endpoint]?.get(REVIEWS))).toContain('10.1.0.2');
  expect(after[TypeUrl.Endpoint]?.get(WEB)).toBe(before[TypeUrl.Endpoint]?.get(WEB));
  expect(after[TypeUrl.Cluster]).toBe(before[TypeUrl.Cluster]);
  for (const t of ALL) expect(after[t]).toEqual(fresh()[t]);
});

test('a move outside what the scope sees leaves its endpoints the same map', () => {
  const other: ServiceFixture = { namespace: 'other', name: 'hidden', clusterIP: '10.96.9.9', exportTo: ['.'], ports: [{ name: 'http', port: 80 }], endpoints: [{ address: '10.9.0.1' }] };
  const { store, registry } = buildSources([reviews, web, other]);
  const source = new MeshSource(store, registry);
  const share = new SidecarShare(DEFAULT_SIDECAR_OPTIONS);
  const before = sidecarSnapshot(source.current(), proxy, {}, ALL, share);
  upsertEndpoints(registry, other, [{ address: '10.9.0.2' }]);
  expect(source.endpointsMoved(['hidden.other.svc.cluster.local'])).toBe(true);
  const after = sidecarSnapshot(source.current(), proxy, {}, ALL, share);
  expect(after[TypeUrl.Endpoint]).toBe(before[TypeUrl.Endpoint]);
});

test('an endpoint of a new service account replaces the snapshot and pushes clusters too', () => {
  const { registry, source, queued, changes, snap, fresh } = setup();
  const mesh = source.current();
  const before = snap(); // builds the clusters, with reviews' identities
  const moved = registry.upsertSlice('shop', 'reviews-slice', 'reviews', [{ address: '10.1.0.3', ready: true, labels: {}, ports: { http: 9080 } }]);
  changes.onChange(moved);
  changes.close();
  expect(queued).toEqual([{ reason: 'endpoints', types: [TypeUrl.Cluster, TypeUrl.Endpoint] }]);
  expect(source.current()).not.toBe(mesh);
  const after = snap();
  expect(tlsText(after[TypeUrl.Cluster]?.get(REVIEWS))).toContain('spiffe://cluster.local/ns/shop/sa/reviews-v2');
  expect(tlsText(before[TypeUrl.Cluster]?.get(REVIEWS))).toContain('spiffe://cluster.local/ns/shop/sa/reviews');
  expect(tlsText(before[TypeUrl.Cluster]?.get(REVIEWS))).not.toContain('reviews-v2');
  for (const t of ALL) expect(after[t]).toEqual(fresh()[t]);
});

test('a new service account after a route change, which built no clusters, still pushes clusters', () => {
  const { registry, source, queued, changes, snap } = setup();
  const before = snap(); // the proxies hold clusters with reviews' identities
  // A route change pushes listeners and routes alone: its snapshot builds no clusters.
  const routes = source.current();
  changes.onChange({ kind: 'VirtualService', namespace: 'shop', name: 'r', hosts: ['reviews.shop.svc.cluster.local'], op: 'upsert', after: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] } } as never);
  expect(queued.pop()?.types).toEqual([TypeUrl.Listener, TypeUrl.Route]);
  expect(source.current()).not.toBe(routes);
  sidecarSnapshot(source.current(), proxy, {}, new Set([TypeUrl.Listener, TypeUrl.Route]));
  // Then an endpoint of another service account: clusters must follow, as without the route change.
  changes.onChange(registry.upsertSlice('shop', 'reviews-slice', 'reviews', [{ address: '10.1.0.3', ready: true, labels: {}, ports: { http: 9080 } }]));
  changes.close();
  expect(queued.pop()).toEqual({ reason: 'endpoints', types: [TypeUrl.Cluster, TypeUrl.Endpoint] });
  expect(tlsText(before[TypeUrl.Cluster]?.get(REVIEWS))).not.toContain('reviews-v2');
  expect(tlsText(snap()[TypeUrl.Cluster]?.get(REVIEWS))).toContain('spiffe://cluster.local/ns/shop/sa/reviews-v2');
});

test('many moves: the snapshot is built again now and then, so its notes stay short', () => {
  const { registry, source } = setup();
  let replaced = 0;
  let mesh = source.current();
  for (let i = 0; i < 2500; i++) {
    upsertEndpoints(registry, reviews, [{ address: `10.2.${i >> 8}.${i & 255}` }]);
    expect(source.endpointsMoved(['reviews.shop.svc.cluster.local'])).toBe(true);
    if (source.current() !== mesh) {
      replaced++;
      mesh = source.current();
    }
    expect(mesh.endpointsVersion).toBeLessThanOrEqual(1000);
  }
  expect(replaced).toBe(2);
});
