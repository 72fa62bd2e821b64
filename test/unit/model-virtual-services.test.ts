// VirtualServices: resolution of hosts, gateways and destinations; which one sidecars use when
// several claim a host; and where one is shadowed by another.
import type { VirtualServiceSpec } from '../../src/api/virtual-service.js';
import type { Config } from '../../src/model/config-store.js';
import {
  destinationsOf,
  orderedFor,
  resolveVirtualService,
  shadowingOf,
  sidecarHostOwners,
  sidecarVirtualServiceFor,
  type ResolvedVirtualService,
} from '../../src/model/virtual-services.js';
import { config } from '../support/mesh-fixtures.js';

const vs = (namespace: string, name: string, spec: VirtualServiceSpec, creationTimestamp?: string): Config<VirtualServiceSpec> =>
  config('VirtualService', namespace, name, spec, creationTimestamp);
const resolve = (c: Config<VirtualServiceSpec>, defaults = ['*']): ResolvedVirtualService => resolveVirtualService(c, { defaultExportTo: defaults });
const names = (list: ResolvedVirtualService[]): string[] => list.map((v) => `${v.config.namespace}/${v.config.name}`);

describe('resolveVirtualService', () => {
  test('short hosts resolve in the VirtualService namespace; gateways default to mesh', () => {
    const r = resolve(vs('default', 'reviews', { hosts: ['reviews', 'reviews.prod', 'bookinfo.example.com', '*.example.com'] }));
    expect(r.hosts).toEqual(['reviews.default.svc.cluster.local', 'reviews.prod', 'bookinfo.example.com', '*.example.com']);
    expect(r.gateways).toEqual(['mesh']);
  });

  test.each([
    [['bookinfo-gateway'], ['default/bookinfo-gateway']],
    [['mesh', 'istio-system/ingress'], ['mesh', 'istio-system/ingress']],
    [['./gw', 'ingress.istio-system.svc.cluster.local'], ['default/gw', 'istio-system/ingress']],
  ])('gateways %j → %j', (gateways, want) => {
    expect(resolve(vs('default', 'x', { hosts: ['a'], gateways })).gateways).toEqual(want);
  });

  test('a custom domain is used for short names', () => {
    const r = resolveVirtualService(vs('shop', 'cart', { hosts: ['cart'] }), { domain: 'corp.internal', defaultExportTo: ['*'] });
    expect(r.hosts).toEqual(['cart.shop.svc.corp.internal']);
  });
});

test('destinationsOf lists every destination with its field path, hosts resolved', () => {
  const c = vs('default', 'reviews', {
    hosts: ['reviews'],
    http: [
      {
        route: [
          { destination: { host: 'reviews', subset: 'v1' }, weight: 50 },
          { destination: { host: 'reviews.default.svc.cluster.local', subset: 'v2', port: { number: 9080 } }, weight: 50 },
        ],
        mirror: { host: 'shadow', subset: 'v9' },
        mirrors: [{ destination: { host: 'mirror.other.svc.cluster.local' } }],
      },
    ],
    tls: [{ match: [{ sniHosts: ['a.example.com'] }], route: [{ destination: { host: 'egress.istio-system.svc.cluster.local' } }] }],
    tcp: [{ route: [{ destination: { host: 'mongo', port: { number: 27017 } } }] }],
  });
  expect(destinationsOf(c)).toEqual([
    { path: 'spec.http[0].route[0].destination', host: 'reviews.default.svc.cluster.local', subset: 'v1', port: undefined },
    { path: 'spec.http[0].route[1].destination', host: 'reviews.default.svc.cluster.local', subset: 'v2', port: 9080 },
    { path: 'spec.http[0].mirror', host: 'shadow.default.svc.cluster.local', subset: 'v9', port: undefined },
    { path: 'spec.http[0].mirrors[0].destination', host: 'mirror.other.svc.cluster.local', subset: undefined, port: undefined },
    { path: 'spec.tls[0].route[0].destination', host: 'egress.istio-system.svc.cluster.local', subset: undefined, port: undefined },
    { path: 'spec.tcp[0].route[0].destination', host: 'mongo.default.svc.cluster.local', subset: undefined, port: 27017 },
  ]);
});

describe('sidecars: which VirtualService serves a host', () => {
  test('the oldest wins; ties on time go by name, then namespace', () => {
    const t = '2024-05-01T10:00:00Z';
    const all = [
      vs('default', 'newer', { hosts: ['reviews'] }, '2024-05-02T00:00:00Z'),
      vs('default', 'b-same-time', { hosts: ['reviews'] }, t),
      vs('default', 'a-same-time', { hosts: ['reviews'] }, t),
    ].map((c) => resolve(c));
    expect(names(orderedFor(all, 'mesh', 'default'))).toEqual(['default/a-same-time', 'default/b-same-time', 'default/newer']);
    expect(sidecarVirtualServiceFor(all, 'reviews.default.svc.cluster.local', 'default')?.config.name).toBe('a-same-time');
  });

  test('same time and name: namespace decides', () => {
    const t = '2024-05-01T10:00:00Z';
    const all = [vs('zeta', 'r', { hosts: ['reviews.default.svc.cluster.local'] }, t), vs('alpha', 'r', { hosts: ['reviews.default.svc.cluster.local'] }, t)].map((c) => resolve(c));
    expect(sidecarVirtualServiceFor(all, 'reviews.default.svc.cluster.local', 'client')?.config.namespace).toBe('alpha');
  });

  test('private to the client namespace beats exported-by-name beats public, whatever the age', () => {
    const host = 'reviews.prod.svc.cluster.local';
    const pub = vs('prod', 'public', { hosts: [host] }); // oldest
    const exported = vs('team-a', 'exported', { hosts: [host], exportTo: ['client'] });
    const priv = vs('client', 'private', { hosts: [host], exportTo: ['.'] }); // newest
    const all = [pub, exported, priv].map((c) => resolve(c));
    expect(names(orderedFor(all, 'mesh', 'client'))).toEqual(['client/private', 'team-a/exported', 'prod/public']);
    expect(sidecarVirtualServiceFor(all, host, 'client')?.config.name).toBe('private');
    expect(sidecarVirtualServiceFor(all, host, 'elsewhere')?.config.name).toBe('public');
  });

  test('a public VirtualService in the client namespace ranks as public, behind an exported one', () => {
    const host = 'x.example.com';
    const all = [vs('client', 'own-public', { hosts: [host] }), vs('other', 'exported', { hosts: [host], exportTo: ['client'] })].map((c) => resolve(c));
    expect(sidecarVirtualServiceFor(all, host, 'client')?.config.name).toBe('exported');
  });

  test('gateway-only VirtualServices do not apply to sidecars; mesh in the list does', () => {
    const host = 'bookinfo.example.com';
    const all = [vs('default', 'gw-only', { hosts: [host], gateways: ['gw'] }), vs('default', 'both', { hosts: [host], gateways: ['gw', 'mesh'] })].map((c) => resolve(c));
    expect(sidecarVirtualServiceFor(all, host, 'default')?.config.name).toBe('both');
  });

  test('exportTo and the mesh default decide who sees a VirtualService', () => {
    const host = 'reviews.default.svc.cluster.local';
    const privateByDefault = [vs('default', 'r', { hosts: ['reviews'] })].map((c) => resolve(c, ['.']));
    expect(sidecarVirtualServiceFor(privateByDefault, host, 'default')).toBeDefined();
    expect(sidecarVirtualServiceFor(privateByDefault, host, 'other')).toBeUndefined();
    const hidden = [vs('default', 'r', { hosts: ['reviews'], exportTo: ['~'] })].map((c) => resolve(c));
    expect(sidecarVirtualServiceFor(hidden, host, 'default')).toBeUndefined();
  });

  test('an exact host beats a wildcard; the most specific wildcard beats a broader one', () => {
    const all = [
      vs('default', 'star', { hosts: ['*.example.com'] }),
      vs('default', 'deep', { hosts: ['*.api.example.com'] }),
      vs('default', 'exact', { hosts: ['www.example.com'] }),
    ].map((c) => resolve(c));
    expect(sidecarVirtualServiceFor(all, 'www.example.com', 'default')?.config.name).toBe('exact');
    expect(sidecarVirtualServiceFor(all, 'v1.api.example.com', 'default')?.config.name).toBe('deep');
    expect(sidecarVirtualServiceFor(all, 'shop.example.com', 'default')?.config.name).toBe('star');
    expect(sidecarVirtualServiceFor(all, 'example.com', 'default')).toBeUndefined();
  });

  test('each host of a multi-host VirtualService is owned separately', () => {
    const all = [vs('default', 'old', { hosts: ['a.example.com'] }), vs('default', 'multi', { hosts: ['a.example.com', 'b.example.com'] })].map((c) => resolve(c));
    const owners = sidecarHostOwners(all, 'default');
    expect(owners.get('a.example.com')?.config.name).toBe('old');
    expect(owners.get('b.example.com')?.config.name).toBe('multi');
  });
});

describe('shadowingOf', () => {
  const host = 'reviews.default.svc.cluster.local';

  test('the newer of two public VirtualServices for a host is shadowed everywhere', () => {
    const all = [vs('default', 'old', { hosts: ['reviews'] }), vs('default', 'new', { hosts: ['reviews'] })].map((c) => resolve(c));
    expect(shadowingOf(all[0], all)).toEqual([]);
    expect(shadowingOf(all[1], all)).toEqual([
      { hostIndex: 0, host, by: { namespace: 'default', name: 'old' }, reason: 'older', namespaces: ['default'], otherNamespaces: true, everywhere: true },
    ]);
  });

  test('different hosts never shadow each other; wildcards do not shadow exact hosts', () => {
    const all = [vs('default', 'a', { hosts: ['*.default.svc.cluster.local'] }), vs('default', 'b', { hosts: ['reviews'] }), vs('default', 'c', { hosts: ['ratings'] })].map((c) => resolve(c));
    for (const v of all) expect(shadowingOf(v, all)).toEqual([]);
  });

  test('a VirtualService bound only to gateways is never shadowed for sidecars (gateways merge)', () => {
    const all = [vs('default', 'old', { hosts: ['bookinfo.example.com'], gateways: ['gw'] }), vs('default', 'new', { hosts: ['bookinfo.example.com'], gateways: ['gw'] })].map((c) => resolve(c));
    expect(shadowingOf(all[1], all)).toEqual([]);
  });

  test('an older public VirtualService loses to a newer private one in the private one namespace only', () => {
    const all = [vs('prod', 'public', { hosts: [host] }), vs('client', 'private', { hosts: [host], exportTo: ['.'] })].map((c) => resolve(c));
    expect(shadowingOf(all[1], all)).toEqual([]);
    expect(shadowingOf(all[0], all)).toEqual([
      { hostIndex: 0, host, by: { namespace: 'client', name: 'private' }, reason: 'exported-closer', namespaces: ['client'], otherNamespaces: false, everywhere: false },
    ]);
  });

  test('visibility that does not overlap means no shadowing', () => {
    const all = [vs('a', 'one', { hosts: [host], exportTo: ['.'] }), vs('b', 'two', { hosts: [host], exportTo: ['.'] })].map((c) => resolve(c));
    expect(shadowingOf(all[0], all)).toEqual([]);
    expect(shadowingOf(all[1], all)).toEqual([]);
  });

  test('reports each shadowed host with its index', () => {
    const all = [vs('default', 'old', { hosts: ['b.example.com'] }), vs('default', 'new', { hosts: ['a.example.com', 'b.example.com'] })].map((c) => resolve(c));
    expect(shadowingOf(all[1], all).map((s) => [s.hostIndex, s.host])).toEqual([[1, 'b.example.com']]);
  });
});
