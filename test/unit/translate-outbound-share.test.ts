// Sidecars alike share one outbound translation (src/translate/outbound.ts): the same objects
// for every proxy of a scope, per mesh snapshot; anything a selector reads splits the scope.
import { DEFAULT_SIDECAR_OPTIONS, type SidecarProxy } from '../../src/translate/input.js';
import { SidecarShare } from '../../src/translate/outbound.js';
import { sidecarSnapshot } from '../../src/translate/snapshot.js';
import { buildMesh, config, sidecar, type ServiceFixture } from '../support/mesh-fixtures.js';
import { goldenCaseNames, loadGoldenCase } from '../support/golden-cases.js';
import { TypeUrl } from '../../src/xds/types.js';
import type { Mesh } from '../../src/model/mesh.js';

const ALL = new Set(Object.values(TypeUrl));
const newShare = () => new SidecarShare(DEFAULT_SIDECAR_OPTIONS);

const services: ServiceFixture[] = [
  {
    namespace: 'shop',
    name: 'reviews',
    clusterIP: '10.96.0.1',
    ports: [{ name: 'http', port: 9080 }],
    endpoints: [
      { address: '10.1.0.1', labels: { app: 'reviews', version: 'v1' }, zone: 'z1', region: 'r1' },
      { address: '10.1.0.2', labels: { app: 'reviews', version: 'v2' }, zone: 'z2', region: 'r1' },
    ],
  },
  { namespace: 'shop', name: 'web', clusterIP: '10.96.0.2', ports: [{ name: 'http', port: 80, targetPort: 8080 }], endpoints: [{ address: '10.1.0.9' }] },
  { namespace: 'shop', name: 'cart', clusterIP: '10.96.0.3', ports: [{ name: 'http', port: 80, targetPort: 8081 }], endpoints: [{ address: '10.1.0.8' }] },
];

/** reviews: traffic from pods labelled version=canary goes to subset v2, the rest to v1. */
const canaryMesh = () =>
  buildMesh(services, [
    config('VirtualService', 'shop', 'reviews', {
      hosts: ['reviews'],
      http: [{ match: [{ sourceLabels: { version: 'canary' } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] }, { route: [{ destination: { host: 'reviews', subset: 'v1' } }] }],
    }),
    config('DestinationRule', 'shop', 'reviews', { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] }),
  ]);

const snap = (mesh: Mesh, proxy: SidecarProxy, share: SidecarShare) => sidecarSnapshot(mesh, proxy, {}, ALL, share);

test('two pods of different workloads in one namespace get the very same outbound objects, and their own inbound', () => {
  const mesh = buildMesh(services);
  const share = newShare();
  const web = snap(mesh, sidecar('shop', { app: 'web', 'pod-template-hash': 'a' }, '10.1.0.9'), share);
  const cart = snap(mesh, sidecar('shop', { app: 'cart', 'pod-template-hash': 'b' }, '10.1.0.8'), share);
  const outbound = 'outbound|9080||reviews.shop.svc.cluster.local';
  expect(cart[TypeUrl.Cluster]?.get(outbound)).toBe(web[TypeUrl.Cluster]?.get(outbound));
  expect(cart[TypeUrl.Endpoint]).toBe(web[TypeUrl.Endpoint]);
  expect(cart[TypeUrl.Route]?.get('9080')).toBe(web[TypeUrl.Route]?.get('9080'));
  expect(cart[TypeUrl.Listener]?.get('0.0.0.0_9080')).toBe(web[TypeUrl.Listener]?.get('0.0.0.0_9080'));
  // Inbound: each pod its own port.
  expect(web[TypeUrl.Cluster]?.has('inbound|8080||')).toBe(true);
  expect(web[TypeUrl.Cluster]?.has('inbound|8081||')).toBe(false);
  expect(cart[TypeUrl.Cluster]?.has('inbound|8081||')).toBe(true);
  expect(cart[TypeUrl.Listener]?.get('virtualInbound')).not.toEqual(web[TypeUrl.Listener]?.get('virtualInbound'));
  // ... and its own inbound routes (over RDS, where its authorization rules go).
  expect([...(web[TypeUrl.Route]?.keys() ?? [])].filter((n) => n.startsWith('inbound|'))).toEqual(['inbound|8080||']);
  expect([...(cart[TypeUrl.Route]?.keys() ?? [])].filter((n) => n.startsWith('inbound|'))).toEqual(['inbound|8081||']);
});

test('sharing changes nothing: every golden sidecar case translates the same with a share as alone', () => {
  const cases = goldenCaseNames()
    .map((n) => loadGoldenCase(n))
    .filter((c) => c.proxy.kind === 'sidecar');
  expect(cases.length).toBeGreaterThan(0);
  for (const c of cases) {
    const share = new SidecarShare({ ...DEFAULT_SIDECAR_OPTIONS, ...c.options });
    // A neighbour first, so the case's proxy reads what the neighbour's translation left.
    sidecarSnapshot(c.mesh, { ...c.proxy, ip: '10.9.9.9', ips: ['10.9.9.9'] }, c.options, ALL, share);
    expect(sidecarSnapshot(c.mesh, c.proxy, c.options, ALL, share)).toEqual(sidecarSnapshot(c.mesh, c.proxy, c.options));
  }
});

test('a VirtualService sourceLabels key splits the scope by that label only', () => {
  const mesh = canaryMesh();
  expect([...mesh.proxyLabelKeys()]).toEqual(['version']);
  const share = newShare();
  const canary = snap(mesh, sidecar('shop', { app: 'web', version: 'canary' }, '10.1.0.9'), share);
  const stable = snap(mesh, sidecar('shop', { app: 'web', version: 'stable' }, '10.1.0.9'), share);
  const other = snap(mesh, sidecar('shop', { app: 'cart', version: 'stable' }, '10.1.0.8'), share);
  const firstCluster = (s: typeof canary) => s[TypeUrl.Route]?.get('9080')?.virtual_hosts?.find((v) => v.domains?.includes('reviews'))?.routes?.[0]?.route?.cluster;
  expect(firstCluster(canary)).toBe('outbound|9080|v2|reviews.shop.svc.cluster.local');
  expect(firstCluster(stable)).toBe('outbound|9080|v1|reviews.shop.svc.cluster.local');
  expect(other[TypeUrl.Route]?.get('9080')).toBe(stable[TypeUrl.Route]?.get('9080'));
  expect(canary[TypeUrl.Route]?.get('9080')).not.toBe(stable[TypeUrl.Route]?.get('9080'));
});

test('a DestinationRule workloadSelector applies to the pods it selects only', () => {
  const mesh = buildMesh(services, [
    config('DestinationRule', 'shop', 'reviews-for-web', { host: 'reviews', workloadSelector: { matchLabels: { app: 'web' } }, trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }),
  ]);
  const share = newShare();
  const lb = (s: ReturnType<typeof snap>) => s[TypeUrl.Cluster]?.get('outbound|9080||reviews.shop.svc.cluster.local')?.lb_policy;
  expect(lb(snap(mesh, sidecar('shop', { app: 'web' }, '10.1.0.9'), share))).toBe('RANDOM');
  expect(lb(snap(mesh, sidecar('shop', { app: 'cart' }, '10.1.0.8'), share))).not.toBe('RANDOM');
});

test('namespaces do not share: a DestinationRule of one namespace is not seen from another', () => {
  const mesh = buildMesh([...services, { namespace: 'other', name: 'x', clusterIP: '10.96.1.1', ports: [{ name: 'http', port: 80 }] }], [
    config('DestinationRule', 'shop', 'reviews', { host: 'reviews.shop.svc.cluster.local', exportTo: ['.'], trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }),
  ]);
  const share = newShare();
  const lb = (s: ReturnType<typeof snap>) => s[TypeUrl.Cluster]?.get('outbound|9080||reviews.shop.svc.cluster.local')?.lb_policy;
  expect(lb(snap(mesh, sidecar('shop', { app: 'web' }, '10.1.0.9'), share))).toBe('RANDOM');
  expect(lb(snap(mesh, sidecar('other', { app: 'x' }, '10.2.0.1'), share))).not.toBe('RANDOM');
});

test('endpoints with locality failover are per locality', () => {
  const mesh = buildMesh(services, [config('DestinationRule', 'shop', 'reviews', { host: 'reviews', trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 } } })]);
  const share = newShare();
  const at = (zone: string) => snap(mesh, { ...sidecar('shop', { app: 'web' }, '10.1.0.9'), locality: { region: 'r1', zone, subZone: '' } }, share);
  const priorities = (s: ReturnType<typeof snap>) =>
    Object.fromEntries((s[TypeUrl.Endpoint]?.get('outbound|9080||reviews.shop.svc.cluster.local')?.endpoints ?? []).map((g) => [g.locality?.zone, g.priority]));
  expect(priorities(at('z1'))).toEqual({ z1: 0, z2: 1 });
  expect(priorities(at('z2'))).toEqual({ z1: 1, z2: 0 });
  expect(at('z1')[TypeUrl.Endpoint]).toBe(at('z1')[TypeUrl.Endpoint]);
});

test('a new mesh snapshot is translated afresh', () => {
  const share = newShare();
  const proxy = sidecar('shop', { app: 'web' }, '10.1.0.9');
  const before = snap(buildMesh(services), proxy, share);
  const moved = services.map((s) => (s.name === 'reviews' ? { ...s, endpoints: [{ address: '10.1.0.77', labels: { app: 'reviews' } }] } : s));
  const after = snap(buildMesh(moved), proxy, share);
  const addresses = (s: ReturnType<typeof snap>) =>
    (s[TypeUrl.Endpoint]?.get('outbound|9080||reviews.shop.svc.cluster.local')?.endpoints ?? []).flatMap((g) => (g.lb_endpoints ?? []).map((e) => e.endpoint?.address?.socket_address?.address));
  expect(addresses(before).sort()).toEqual(['10.1.0.1', '10.1.0.2']);
  expect(addresses(after)).toEqual(['10.1.0.77']);
});

test('a namespace or label chosen by a proxy cannot produce another scope and take its configuration', () => {
  const mesh = canaryMesh();
  const share = newShare();
  // Node metadata is the proxy's to choose: a namespace that spells another scope's key parts.
  snap(mesh, { namespace: 'shop\u0000version=canary', labels: {}, ip: '10.9.9.9' }, share);
  snap(mesh, { namespace: '["shop",{"version":"canary"}]', labels: {}, ip: '10.9.9.8' }, share);
  const canary = snap(mesh, sidecar('shop', { version: 'canary' }, '10.1.0.9'), share);
  const cluster = canary[TypeUrl.Route]?.get('9080')?.virtual_hosts?.find((v) => v.domains?.includes('reviews'))?.routes?.[0]?.route?.cluster;
  expect(cluster).toBe('outbound|9080|v2|reviews.shop.svc.cluster.local');
});

test('replicas of one workload (the same inbound ports) get the very same cluster and listener maps', () => {
  const mesh = buildMesh(services);
  const share = newShare();
  const a = snap(mesh, sidecar('shop', { app: 'web' }, '10.1.0.9'), share);
  const b = snap(mesh, sidecar('shop', { app: 'web' }, '10.1.0.19'), share);
  const other = snap(mesh, sidecar('shop', { app: 'cart' }, '10.1.0.8'), share);
  expect(b[TypeUrl.Cluster]).toBe(a[TypeUrl.Cluster]);
  expect(b[TypeUrl.Listener]).toBe(a[TypeUrl.Listener]);
  expect(other[TypeUrl.Cluster]).not.toBe(a[TypeUrl.Cluster]);
});

test("a new mesh snapshot keeps a workload's inbound resources while nothing they are built from changed", () => {
  const share = newShare();
  const proxy = sidecar('shop', { app: 'web' }, '10.1.0.9');
  const before = snap(buildMesh(services), proxy, share);
  // A route change elsewhere: the same inbound objects (so they are not encoded again either).
  const routed = snap(canaryMesh(), proxy, share);
  expect(routed[TypeUrl.Listener]?.get('virtualInbound')).toBe(before[TypeUrl.Listener]?.get('virtualInbound'));
  expect(routed[TypeUrl.Cluster]?.get('inbound|8080||')).toBe(before[TypeUrl.Cluster]?.get('inbound|8080||'));
  expect(routed[TypeUrl.Route]?.get('inbound|8080||')).toBe(before[TypeUrl.Route]?.get('inbound|8080||'));
  // What they are built from changes, each right after a snapshot that held them: built again, and different.
  const changes = [
    config('AuthorizationPolicy', 'shop', 'deny', { selector: { matchLabels: { app: 'web' } }, action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] }),
    config('PeerAuthentication', 'shop', 'default', { mtls: { mode: 'STRICT' } }),
    config('PeerAuthentication', 'shop', 'web', { selector: { matchLabels: { app: 'web' } }, portLevelMtls: { 8080: { mode: 'DISABLE' } } }),
    config('Telemetry', 'shop', 'logs', { accessLogging: [{ providers: [{ name: 'envoy' }] }] }),
  ];
  const inboundOf = (s: ReturnType<typeof snap>) => [s[TypeUrl.Listener]?.get('virtualInbound'), s[TypeUrl.Route]?.get('inbound|8080||')];
  for (const c of changes) {
    expect(inboundOf(snap(buildMesh(services), proxy, share))).toEqual(inboundOf(before));
    expect([c.kind, inboundOf(snap(buildMesh(services, [c]), proxy, share))]).not.toEqual([c.kind, inboundOf(before)]);
  }
  // Two snapshots without the workload: let go.
  snap(buildMesh(services), sidecar('shop', { app: 'cart' }, '10.1.0.8'), share);
  snap(buildMesh(services), sidecar('shop', { app: 'cart' }, '10.1.0.8'), share);
  expect(snap(buildMesh(services), proxy, share)[TypeUrl.Listener]?.get('virtualInbound')).not.toBe(before[TypeUrl.Listener]?.get('virtualInbound'));
});

test('keeping inbound resources across snapshots changes nothing: every golden sidecar case, one after another with one share, translates as alone', () => {
  const cases = goldenCaseNames()
    .map((n) => loadGoldenCase(n))
    .filter((c) => c.proxy.kind === 'sidecar');
  // The cases' options differ; those alike share one SidecarShare, as one provider's proxies do.
  const shares = new Map<string, SidecarShare>();
  for (const round of [1, 2]) {
    for (const c of cases) {
      const key = JSON.stringify(c.options ?? {});
      let share = shares.get(key);
      if (!share) shares.set(key, (share = new SidecarShare({ ...DEFAULT_SIDECAR_OPTIONS, ...c.options })));
      expect([round, sidecarSnapshot(c.mesh, c.proxy, c.options, ALL, share)]).toEqual([round, sidecarSnapshot(c.mesh, c.proxy, c.options)]);
    }
  }
});
