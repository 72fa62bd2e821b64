// The route model: each VirtualService's HTTP routes resolved once, delegates expanded with
// Istio's rules (pilot/pkg/model/virtualservice.go: mergeVirtualServicesIfNeeded, hasConflict,
// mergeHTTPMatchRequest), destinations resolved where they were written.
import type { HTTPMatchRequest, VirtualServiceSpec } from '../../src/api/virtual-service.js';
import { matchesConflict, mergeMatch, mirrorsOf, resolveHttpRoutes, type ResolvedHttpRoutes } from '../../src/model/http-routes.js';
import { resolveVirtualService, type ResolvedVirtualService } from '../../src/model/virtual-services.js';
import { config } from '../support/mesh-fixtures.js';

const vs = (ns: string, name: string, spec: VirtualServiceSpec): ResolvedVirtualService =>
  resolveVirtualService(config('VirtualService', ns, name, spec), { defaultExportTo: ['*'] });

function resolve(root: ResolvedVirtualService, ...others: ResolvedVirtualService[]): ResolvedHttpRoutes {
  const all = [root, ...others];
  return resolveHttpRoutes(root, (ns, name) => all.find((v) => v.config.namespace === ns && v.config.name === name), 'cluster.local');
}

describe('matchesConflict: a delegate match must stay inside the root match', () => {
  test.each<[string, HTTPMatchRequest, HTTPMatchRequest, boolean]>([
    ['prefix under prefix', { uri: { prefix: '/api' } }, { uri: { prefix: '/api/v2' } }, false],
    ['exact under prefix', { uri: { prefix: '/api' } }, { uri: { exact: '/api/x' } }, false],
    ['prefix outside prefix', { uri: { prefix: '/api' } }, { uri: { prefix: '/other' } }, true],
    ['wider prefix', { uri: { prefix: '/api/v2' } }, { uri: { prefix: '/api' } }, true],
    ['same exact', { uri: { exact: '/a' } }, { uri: { exact: '/a' } }, false],
    ['prefix under exact', { uri: { exact: '/a' } }, { uri: { prefix: '/a' } }, true],
    ['regex in the root and any uri in the delegate', { uri: { regex: '/a.*' } }, { uri: { prefix: '/a' } }, true],
    ['regex in the delegate under a prefix', { uri: { prefix: '/a' } }, { uri: { regex: '/a.*' } }, true],
    ['regex in the root, no uri in the delegate', { uri: { regex: '/a.*' } }, { headers: { x: { exact: '1' } } }, false],
    ['no uri in the root', {}, { uri: { regex: '/a.*' } }, false],
    ['a header regex in the root, the header only required present in the delegate (would widen it)', { headers: { x: { regex: 'a.*' } } }, { headers: { x: {} } }, true],
    ['a header only required present in the root, a regex in the delegate', { headers: { x: {} } }, { headers: { x: { regex: 'a.*' } } }, true],
    ['the same header regex in both', { headers: { x: { regex: 'a.*' } } }, { headers: { x: { regex: 'a.*' } } }, true],
    ['same header', { headers: { env: { exact: 'prod' } } }, { headers: { env: { exact: 'prod' } } }, false],
    ['another value of the header', { headers: { env: { exact: 'prod' } } }, { headers: { env: { exact: 'dev' } } }, true],
    ['another header', { headers: { env: { exact: 'prod' } } }, { headers: { user: { exact: 'jason' } } }, false],
    ['ignoreUriCase differs', { uri: { prefix: '/a' }, ignoreUriCase: true }, { uri: { prefix: '/a' } }, true],
    ['other port', { port: 80 }, { port: 8080 }, true],
    ['other source namespace', { sourceNamespace: 'a' }, { sourceNamespace: 'b' }, true],
    ['source labels contradict', { sourceLabels: { app: 'a' } }, { sourceLabels: { app: 'b' } }, true],
    ['source labels narrow', { sourceLabels: { app: 'a' } }, { sourceLabels: { version: 'v1' } }, false],
    ['gateways not a subset', { gateways: ['ns/a'] }, { gateways: ['ns/a', 'ns/b'] }, true],
    ['gateways a subset', { gateways: ['ns/a', 'ns/b'] }, { gateways: ['ns/b'] }, false],
  ])('%s', (_what, root, leaf, want) => expect(matchesConflict(root, leaf)).toBe(want));
});

test('mergeMatch: the delegate decides what it sets, the root the rest; names joined with "-"', () => {
  expect(
    mergeMatch(
      { name: 'root', uri: { prefix: '/api' }, headers: { env: { exact: 'prod' } }, port: 80, gateways: ['ns/gw'], sourceLabels: { app: 'a' } },
      { name: 'leaf', uri: { prefix: '/api/v2' }, headers: { user: { exact: 'jason' } }, sourceLabels: { version: 'v1' } },
    ),
  ).toEqual({
    name: 'root-leaf',
    uri: { prefix: '/api/v2' },
    headers: { env: { exact: 'prod' }, user: { exact: 'jason' } },
    port: 80,
    gateways: ['ns/gw'],
    sourceLabels: { app: 'a', version: 'v1' },
  });
});

describe('delegation', () => {
  const root = vs('prod', 'root', {
    hosts: ['reviews'],
    gateways: ['istio-ingress/gw'],
    http: [
      {
        name: 'api',
        match: [{ uri: { prefix: '/api' } }, { uri: { prefix: '/v1/api' } }],
        delegate: { name: 'api', namespace: 'team' },
        timeout: '5s',
        retries: { attempts: 1 },
        mirror: { host: 'shadow' },
        headers: { request: { set: { 'x-root': '1' } } },
      },
      { match: [{ uri: { prefix: '/missing' } }], delegate: { name: 'nope' } },
      { match: [{ uri: { prefix: '/hidden' } }], delegate: { name: 'hidden', namespace: 'team' } },
      { name: 'rest', route: [{ destination: { host: 'reviews' } }] },
    ],
  });
  const api = vs('team', 'api', {
    http: [
      { name: 'v2', match: [{ uri: { prefix: '/api/v2' } }], route: [{ destination: { host: 'reviews-v2' } }], timeout: '1s' },
      // Fits the first root match only: kept, with that one match.
      { match: [{ uri: { exact: '/api/health' } }], route: [{ destination: { host: 'health' } }] },
      // One of its matches fits no root match: the whole route goes (Istio).
      { name: 'mixed', match: [{ uri: { prefix: '/api/x' } }, { uri: { prefix: '/elsewhere' } }], route: [{ destination: { host: 'x' } }] },
      // No match: the root's matches.
      { route: [{ destination: { host: 'api', port: { number: 8080 } }, weight: 3 }, { destination: { host: 'api-canary', subset: 'c' }, weight: 1 }, { destination: { host: 'zero' } }] },
    ],
  });
  const hidden = vs('team', 'hidden', { exportTo: ['.'], http: [{ route: [{ destination: { host: 'hidden' } }] }] });
  const { routes, problems } = resolve(root, api, hidden);

  test('delegated routes narrow the root match, in the delegate order, among the root routes', () => {
    expect(routes.map((r) => [r.name, r.matches?.map((m) => m.uri?.prefix ?? m.uri?.exact)])).toEqual([
      ['api-v2', ['/api/v2']],
      ['api', ['/api/health']],
      ['api', ['/api', '/v1/api']],
      ['rest', undefined],
    ]);
  });

  test('destinations resolve in the namespace of the VirtualService that names them; weights relative, zero dropped', () => {
    expect(routes[0].targets.map((t) => t.cluster)).toEqual([{ host: 'reviews-v2.team.svc.cluster.local', port: undefined, subset: undefined }]);
    expect(routes[2].targets.map((t) => [t.cluster.host, t.cluster.port, t.cluster.subset, t.weight])).toEqual([
      ['api.team.svc.cluster.local', 8080, undefined, 3],
      ['api-canary.team.svc.cluster.local', undefined, 'c', 1],
    ]);
    // The mirror is the root's: resolved in the root's namespace.
    expect(mirrorsOf(routes[0]).map((m) => m.cluster.host)).toEqual(['shadow.prod.svc.cluster.local']);
    expect(routes[3].targets[0].cluster.host).toBe('reviews.prod.svc.cluster.local');
  });

  test('what a delegate route leaves unset comes from the root route', () => {
    expect(routes[0].timeout).toEqual({ seconds: 1, nanos: 0 });
    expect(routes[1].timeout).toEqual({ seconds: 5, nanos: 0 });
    expect(routes[1].retries).toEqual({ attempts: 1 });
    expect(routes[1].headers).toEqual({ request: { set: { 'x-root': '1' } } });
    expect(routes[1].delegatedBy).toEqual({ ref: { namespace: 'prod', name: 'root' }, httpIndex: 0 });
    expect(routes[1].origin).toEqual({ ref: { namespace: 'team', name: 'api' }, httpIndex: 1 });
  });

  test('why routes were left out: a conflict, a missing delegate, one not exported to the root', () => {
    expect(problems).toEqual([
      { kind: 'conflict', root: { ref: { namespace: 'prod', name: 'root' }, httpIndex: 0 }, delegate: { ref: { namespace: 'team', name: 'api' }, httpIndex: 2 } },
      { kind: 'not-found', root: { ref: { namespace: 'prod', name: 'root' }, httpIndex: 1 }, delegate: { namespace: 'prod', name: 'nope' } },
      { kind: 'not-exported', root: { ref: { namespace: 'prod', name: 'root' }, httpIndex: 2 }, delegate: { namespace: 'team', name: 'hidden' } },
    ]);
  });

  test("mirror, mirrorPercentage, the deprecated mirrorPercent and mirrors are each inherited on their own (Istio's mergeHTTPRoute)", () => {
    const r = vs('prod', 'r', {
      hosts: ['a'],
      http: [{ match: [{ uri: { prefix: '/' } }], delegate: { name: 'd', namespace: 'team' }, mirror: { host: 'root-mirror' }, mirrorPercentage: { value: 10 }, mirrors: [{ destination: { host: 'root-extra' } }] }],
    });
    const d = vs('team', 'd', {
      http: [
        { route: [{ destination: { host: 'a' } }], mirror: { host: 'own-mirror' } },
        { route: [{ destination: { host: 'b' } }], mirrorPercentage: { value: 50 }, mirrors: [{ destination: { host: 'own-extra' }, percentage: { value: 5 } }] },
      ],
    });
    const [own, pct] = resolve(r, d).routes.map((x) => mirrorsOf(x).map((m) => [m.cluster.host.split('.')[0], m.percentage?.value]));
    expect(own).toEqual([
      ['own-mirror', 10],
      ['root-extra', undefined],
    ]);
    expect(pct).toEqual([
      ['root-mirror', 50],
      ['own-extra', 5],
    ]);
  });

  test('a VirtualService with hosts is no delegate', () => {
    const withHosts = vs('team', 'api', { hosts: ['api'], http: [{ route: [{ destination: { host: 'api' } }] }] });
    expect(resolve(root, withHosts).problems[0]).toMatchObject({ kind: 'not-found', delegate: { namespace: 'team', name: 'api' } });
  });

  test('gateway names in matches are resolved where they were written', () => {
    const r = vs('prod', 'r', { hosts: ['a'], http: [{ match: [{ gateways: ['gw', 'mesh', 'other/gw'] }], route: [{ destination: { host: 'a' } }] }] });
    expect(resolve(r).routes[0].matches?.[0].gateways).toEqual(['prod/gw', 'mesh', 'other/gw']);
  });
});
