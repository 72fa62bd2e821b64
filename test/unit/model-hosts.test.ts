// Host names as Istio reads them: short-name resolution, wildcard matching and specificity,
// Gateway server hosts and gateway references.
import {
  compareHostSpecificity,
  hostMatches,
  hostSubsetOf,
  intersectHosts,
  isIpAddress,
  mostSpecificHostMatch,
  parseServerHost,
  resolveGatewayName,
  resolveHost,
  serverHostsFor,
} from '../../src/model/hosts.js';

describe('resolveHost: short names resolve in the object namespace, names with a dot are FQDNs', () => {
  test.each([
    ['reviews', 'default', 'cluster.local', 'reviews.default.svc.cluster.local'],
    ['reviews', 'prod', 'cluster.local', 'reviews.prod.svc.cluster.local'],
    ['reviews', 'default', 'corp.internal', 'reviews.default.svc.corp.internal'],
    // Istio takes any name with a dot as written: "reviews.prod" is not expanded.
    ['reviews.prod', 'default', 'cluster.local', 'reviews.prod'],
    ['reviews.prod.svc.cluster.local', 'default', 'cluster.local', 'reviews.prod.svc.cluster.local'],
    ['api.example.com', 'default', 'cluster.local', 'api.example.com'],
    ['*', 'default', 'cluster.local', '*'],
    ['*.example.com', 'default', 'cluster.local', '*.example.com'],
    ['10.0.0.1', 'default', 'cluster.local', '10.0.0.1'],
    ['::1', 'default', 'cluster.local', '::1'],
    ['2001:db8::1', 'default', 'cluster.local', '2001:db8::1'],
    ['', 'default', 'cluster.local', ''],
    ['reviews', '', 'cluster.local', 'reviews.svc.cluster.local'],
  ])('%s in %s (%s) → %s', (host, ns, domain, want) => {
    expect(resolveHost(host, ns, domain)).toBe(want);
  });

  test('default domain is cluster.local', () => {
    expect(resolveHost('ratings', 'bookinfo')).toBe('ratings.bookinfo.svc.cluster.local');
  });
});

test.each([
  ['10.1.2.3', true],
  ['255.255.255.255', true],
  ['256.1.1.1', false],
  ['fe80::1', true],
  ['::ffff:10.0.0.1', true],
  ['reviews', false],
  ['a:b', false],
])('isIpAddress(%s) = %s', (s, want) => {
  expect(isIpAddress(s)).toBe(want);
});

describe('hostMatches: overlap in either direction (Istio host.Name.Matches)', () => {
  test.each([
    ['foo.com', 'foo.com', true],
    ['foo.com', 'bar.com', false],
    ['*.com', 'foo.com', true],
    ['bar.com', '*.com', true],
    ['*.foo.com', 'foo.com', false],
    ['*.foo.com', 'a.b.foo.com', true],
    ['*', 'foo.com', true],
    ['*', '*.com', true],
    ['*.com', '*.foo.com', true],
    ['*.foo.com', '*.com', true],
    ['*.foo.com', '*.bar.com', false],
    ['*.example.com', 'example.com', false],
    ['reviews.default.svc.cluster.local', '*.svc.cluster.local', true],
    ['reviews.default.svc.cluster.local', '*.local', true],
    ['reviews.default.svc.cluster.local', '*.prod.svc.cluster.local', false],
  ])('%s ~ %s = %s', (a, b, want) => {
    expect(hostMatches(a, b)).toBe(want);
    expect(hostMatches(b, a)).toBe(want);
  });
});

describe('hostSubsetOf: one direction only', () => {
  test.each([
    ['foo.com', 'foo.com', true],
    ['foo.com', '*.com', true],
    ['*.com', 'foo.com', false],
    ['*.foo.com', '*.com', true],
    ['*.com', '*.foo.com', false],
    ['*.com', '*', true],
    ['*', '*.com', false],
    ['*', '*', true],
    ['foo.com', '*', true],
    ['foo.com', 'bar.com', false],
  ])('%s ⊆ %s = %s', (a, b, want) => {
    expect(hostSubsetOf(a, b)).toBe(want);
  });
});

test('specificity: concrete before wildcard, longer before shorter, then alphabetical', () => {
  const hosts = ['*', '*.com', 'b.com', '*.foo.com', 'a.com', 'long.name.com', '*.a.foo.com'];
  expect([...hosts].sort(compareHostSpecificity)).toEqual(['long.name.com', 'a.com', 'b.com', '*.a.foo.com', '*.foo.com', '*.com', '*']);
});

describe('mostSpecificHostMatch: exact first, then the most specific covering wildcard', () => {
  const candidates = ['*', '*.local', '*.svc.cluster.local', '*.default.svc.cluster.local', 'reviews.default.svc.cluster.local', '*.example.com'];
  test.each([
    ['reviews.default.svc.cluster.local', 'reviews.default.svc.cluster.local'],
    ['ratings.default.svc.cluster.local', '*.default.svc.cluster.local'],
    ['ratings.prod.svc.cluster.local', '*.svc.cluster.local'],
    ['db.corp.local', '*.local'],
    ['api.example.com', '*.example.com'],
    ['example.com', '*'],
    ['*.default.svc.cluster.local', '*.default.svc.cluster.local'],
    ['*.a.example.com', '*.example.com'],
  ])('%s → %s', (needle, want) => {
    expect(mostSpecificHostMatch(needle, candidates)).toBe(want);
  });

  test('no match without a covering wildcard', () => {
    expect(mostSpecificHostMatch('api.example.org', ['api.example.com', '*.example.com'])).toBeUndefined();
    expect(mostSpecificHostMatch('example.com', ['*.example.com'])).toBeUndefined();
  });
});

describe('intersectHosts: each overlap as the narrower name', () => {
  test.each([
    [['foo.com', 'bar.com'], ['*.com'], ['foo.com', 'bar.com']],
    [['foo.com', '*.net'], ['*.com', 'bar.net'], ['foo.com', 'bar.net']],
    [['foo.com', '*.net'], ['*.bar.net'], ['*.bar.net']],
    [['foo.com'], ['bar.com'], []],
    [[], ['bar.com'], []],
    [['*'], ['bookinfo.example.com', 'reviews.default.svc.cluster.local'], ['bookinfo.example.com', 'reviews.default.svc.cluster.local']],
  ])('%j ∩ %j = %j', (a, b, want) => {
    expect(intersectHosts(a, b)).toEqual(want);
  });
});

describe('Gateway server hosts', () => {
  test.each([
    ['bookinfo.com', 'istio-ingress', { namespace: '*', host: 'bookinfo.com' }],
    ['*/bookinfo.com', 'istio-ingress', { namespace: '*', host: 'bookinfo.com' }],
    ['./bookinfo.com', 'istio-ingress', { namespace: 'istio-ingress', host: 'bookinfo.com' }],
    ['prod/*.bookinfo.com', 'istio-ingress', { namespace: 'prod', host: '*.bookinfo.com' }],
    ['prod/*', 'istio-ingress', { namespace: 'prod', host: '*' }],
  ])('%s (gateway in %s)', (entry, gwNs, want) => {
    expect(parseServerHost(entry, gwNs)).toEqual(want);
  });

  test.each([
    [['ns1/foo.com', 'ns2/bar.com'], 'ns1', ['foo.com']],
    [['ns1/foo.com', 'ns2/bar.com'], 'ns3', []],
    [['ns1/foo.com', '*/bar.com'], 'ns1', ['foo.com', 'bar.com']],
    [['ns1/foo.com', '*/bar.com'], 'ns3', ['bar.com']],
    [['foo.com', 'ns2/bar.com'], 'ns2', ['foo.com', 'bar.com']],
    [['./foo.com'], 'gw-ns', ['foo.com']],
    [['./foo.com'], 'other', []],
  ])('serverHostsFor(%j) for a VirtualService in %s = %j', (hosts, vsNs, want) => {
    expect(serverHostsFor(hosts, 'gw-ns', vsNs)).toEqual(want);
  });
});

describe('resolveGatewayName', () => {
  test.each([
    ['mesh', 'default', 'mesh'],
    ['bookinfo-gateway', 'default', 'default/bookinfo-gateway'],
    ['./bookinfo-gateway', 'default', 'default/bookinfo-gateway'],
    ['istio-system/ingress', 'default', 'istio-system/ingress'],
    ['ingress.istio-system.svc.cluster.local', 'default', 'istio-system/ingress'],
    ['ingress.istio-system', 'default', 'istio-system/ingress'],
  ])('%s from %s → %s', (ref, ns, want) => {
    expect(resolveGatewayName(ref, ns)).toBe(want);
  });
});
