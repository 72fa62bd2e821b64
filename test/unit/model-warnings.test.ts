// warningsFor: the messages a controller writes as a warning condition, each naming the field.
import type { NetworkingKind } from '../../src/api/common.js';
import { ConfigStore, type AnyConfig } from '../../src/model/config-store.js';
import { Mesh } from '../../src/model/mesh.js';
import { ServiceRegistry, type ServiceRecord } from '../../src/model/services.js';
import { rememberedWarnings, warningsFor } from '../../src/model/warnings.js';
import { config } from '../support/mesh-fixtures.js';

const cfg = (kind: NetworkingKind, namespace: string, name: string, spec: unknown): AnyConfig => config(kind, namespace, name, spec);
function svc(namespace: string, name: string, ports: number[] = [9080], extra: Partial<Omit<ServiceRecord, 'hostname'>> = {}): Omit<ServiceRecord, 'hostname'> {
  return { namespace, name, clusterIP: '10.96.0.1', ports: ports.map((p) => ({ name: `http-${p}`, port: p, targetPort: p, protocol: 'TCP' })), labels: {}, selector: { app: name }, exportTo: [], ...extra };
}

/** Warnings for the last config, with all of them in the store (as the controller does it). */
function warn(configs: AnyConfig[], services: Omit<ServiceRecord, 'hostname'>[] = [svc('default', 'reviews'), svc('default', 'ratings')]): string[] {
  const store = new ConfigStore();
  for (const c of configs) store.upsert(c);
  const registry = new ServiceRegistry();
  for (const s of services) registry.upsertService(s);
  return warningsFor(configs[configs.length - 1], new Mesh(store, registry));
}

const REVIEWS = 'reviews.default.svc.cluster.local';
const reviewsDr = (subsets: string[], ns = 'default', name = 'reviews'): AnyConfig => cfg('DestinationRule', ns, name, { host: 'reviews', subsets: subsets.map((s) => ({ name: s, labels: { version: s } })) });
const split = (a: string, b: string): unknown => ({
  hosts: ['reviews'],
  http: [{ route: [{ destination: { host: 'reviews', subset: a }, weight: 50 }, { destination: { host: 'reviews', subset: b }, weight: 50 }] }],
});

describe('VirtualService warnings', () => {
  test.each<[string, AnyConfig[], Omit<ServiceRecord, 'hostname'>[] | undefined, string[]]>([
    ['a clean split: no warnings', [reviewsDr(['v1', 'v2']), cfg('VirtualService', 'default', 'reviews', split('v1', 'v2'))], undefined, []],
    [
      'a subset no DestinationRule defines',
      [reviewsDr(['v1', 'v2']), cfg('VirtualService', 'default', 'reviews', split('v1', 'v3'))],
      undefined,
      [`spec.http[0].route[1].destination.subset: subset "v3" of host ${REVIEWS} is defined by no DestinationRule (DestinationRule default/reviews applies to this host and defines v1, v2)`],
    ],
    [
      'subsets with no DestinationRule at all',
      [cfg('VirtualService', 'default', 'reviews', split('v1', 'v3'))],
      undefined,
      [
        `spec.http[0].route[0].destination.subset: subset "v1" of host ${REVIEWS} is defined by no DestinationRule`,
        `spec.http[0].route[1].destination.subset: subset "v3" of host ${REVIEWS} is defined by no DestinationRule`,
      ],
    ],
    [
      'a subset defined by a merged second DestinationRule is fine',
      [reviewsDr(['v1']), reviewsDr(['v2'], 'default', 'reviews-v2'), cfg('VirtualService', 'default', 'reviews', split('v1', 'v2'))],
      undefined,
      [],
    ],
    [
      'a subset defined only by a DestinationRule the VirtualService namespace does not use',
      [cfg('DestinationRule', 'team-x', 'reviews', { host: REVIEWS, exportTo: ['.'], subsets: [{ name: 'v1' }] }), cfg('VirtualService', 'default', 'r', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] })],
      undefined,
      [`spec.http[0].route[0].destination.subset: subset "v1" of host ${REVIEWS} is defined by no DestinationRule`],
    ],
    [
      'mirror, tcp and tls destinations are checked too',
      [
        cfg('VirtualService', 'default', 'r', {
          hosts: ['reviews'],
          http: [{ route: [{ destination: { host: 'reviews' } }], mirror: { host: 'shadow' } }],
          tcp: [{ route: [{ destination: { host: 'ratings', subset: 'blue' } }] }],
          tls: [{ match: [{ sniHosts: ['reviews'] }], route: [{ destination: { host: 'nowhere.example.com' } }] }],
        }),
      ],
      undefined,
      [
        'spec.http[0].mirror.host: host shadow.default.svc.cluster.local matches no Service or ServiceEntry visible in namespace default',
        'spec.tls[0].route[0].destination.host: host nowhere.example.com matches no Service or ServiceEntry visible in namespace default',
        'spec.tcp[0].route[0].destination.subset: subset "blue" of host ratings.default.svc.cluster.local is defined by no DestinationRule',
      ],
    ],
    [
      'a destination host that matches nothing',
      [cfg('VirtualService', 'default', 'r', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviwes' } }] }] })],
      undefined,
      ['spec.http[0].route[0].destination.host: host reviwes.default.svc.cluster.local matches no Service or ServiceEntry visible in namespace default'],
    ],
    [
      'a Service not exported to the VirtualService namespace does not count',
      [cfg('VirtualService', 'default', 'r', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'vault.secret.svc.cluster.local' } }] }] })],
      [svc('default', 'reviews'), svc('secret', 'vault', [8200], { exportTo: ['.'] })],
      ['spec.http[0].route[0].destination.host: host vault.secret.svc.cluster.local matches no Service or ServiceEntry visible in namespace default'],
    ],
    [
      'a ServiceEntry host counts as a service, a wildcard one too',
      [
        cfg('ServiceEntry', 'egress', 'apis', { hosts: ['api.example.com', '*.wikipedia.org'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], resolution: 'NONE' }),
        cfg('VirtualService', 'default', 'r', {
          hosts: ['api.example.com'],
          tls: [{ match: [{ sniHosts: ['api.example.com'] }], route: [{ destination: { host: 'api.example.com', port: { number: 443 } } }, { destination: { host: 'en.wikipedia.org' } }] }],
        }),
      ],
      undefined,
      [],
    ],
    [
      'a port the service does not have',
      [cfg('VirtualService', 'default', 'r', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', port: { number: 8080 } } }] }] })],
      undefined,
      [`spec.http[0].route[0].destination.port.number: port 8080 is not a port of host ${REVIEWS} (ports: 9080)`],
    ],
    [
      'the newer of two VirtualServices for one host is shadowed for sidecars',
      [cfg('VirtualService', 'default', 'old', split('v1', 'v2')), reviewsDr(['v1', 'v2']), cfg('VirtualService', 'default', 'new', split('v1', 'v2'))],
      undefined,
      [`spec.hosts[0]: host ${REVIEWS} is shadowed for sidecars by the older VirtualService default/old; this VirtualService's routes for it are ignored there`],
    ],
    [
      'shadowed only where an exportTo makes another one closer',
      [cfg('VirtualService', 'team-a', 'for-b', { hosts: [REVIEWS], exportTo: ['team-b'] }), cfg('VirtualService', 'default', 'reviews', { hosts: ['reviews'] })],
      undefined,
      [`spec.hosts[0]: host ${REVIEWS} is shadowed for sidecars in namespace team-b by VirtualService team-a/for-b, which is exported to that namespace specifically; this VirtualService's routes for it are ignored there`],
    ],
    [
      'a gateway that does not exist',
      [cfg('VirtualService', 'default', 'r', { hosts: ['bookinfo.example.com'], gateways: ['bookinfo-gateway', 'mesh'] })],
      undefined,
      ['spec.gateways[0]: Gateway default/bookinfo-gateway not found'],
    ],
    [
      'a host the bound Gateway does not expose (for this namespace)',
      [
        cfg('Gateway', 'istio-ingress', 'gw', { servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['prod/*.example.com', '*/status.example.com'] }] }),
        cfg('VirtualService', 'default', 'r', { hosts: ['shop.example.com', 'status.example.com', 'other.org'], gateways: ['istio-ingress/gw'] }),
      ],
      undefined,
      [
        'spec.hosts[0]: host shop.example.com is not exposed by Gateway istio-ingress/gw (no server host matches it for namespace default)',
        'spec.hosts[2]: host other.org is not exposed by Gateway istio-ingress/gw (no server host matches it for namespace default)',
      ],
    ],
    [
      'a gateway route to a multi-port service must pick a port',
      [
        cfg('Gateway', 'default', 'gw', { servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] }),
        cfg('VirtualService', 'default', 'r', { hosts: ['shop.example.com'], gateways: ['gw'], http: [{ route: [{ destination: { host: 'reviews' } }] }, { route: [{ destination: { host: 'reviews', port: { number: 9443 } } }] }] }),
      ],
      [svc('default', 'reviews', [9080, 9443])],
      [`spec.http[0].route[0].destination.port: host ${REVIEWS} has several ports (9080, 9443); a gateway route must say which one`],
    ],
  ])('%s', (_name, configs, services, want) => {
    expect(warn(configs, services)).toEqual(want);
  });

  test('works for a VirtualService the Mesh was built without', () => {
    const store = new ConfigStore();
    store.upsert(cfg('VirtualService', 'default', 'old', { hosts: ['reviews'] }));
    const registry = new ServiceRegistry();
    registry.upsertService(svc('default', 'reviews'));
    const fresh = cfg('VirtualService', 'default', 'new', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v9' } }] }] });
    expect(warningsFor(fresh, new Mesh(store, registry))).toEqual([
      `spec.hosts[0]: host ${REVIEWS} is shadowed for sidecars by the older VirtualService default/old; this VirtualService's routes for it are ignored there`,
      `spec.http[0].route[0].destination.subset: subset "v9" of host ${REVIEWS} is defined by no DestinationRule`,
    ]);
  });
});

describe('delegation warnings', () => {
  const root = cfg('VirtualService', 'default', 'root', {
    hosts: ['reviews'],
    http: [
      { match: [{ uri: { prefix: '/api' } }], delegate: { name: 'api', namespace: 'team' } },
      { match: [{ uri: { prefix: '/gone' } }], delegate: { name: 'gone' } },
      { match: [{ uri: { prefix: '/private' } }], delegate: { name: 'private', namespace: 'team' } },
    ],
  });
  const api = cfg('VirtualService', 'team', 'api', {
    http: [
      { match: [{ uri: { prefix: '/api/v2' } }], route: [{ destination: { host: 'reviews.default.svc.cluster.local' } }] },
      { match: [{ uri: { prefix: '/other' } }], route: [{ destination: { host: 'reviews.default.svc.cluster.local' } }] },
    ],
  });
  const hidden = cfg('VirtualService', 'team', 'private', { exportTo: ['.'], http: [{ route: [{ destination: { host: 'reviews.default.svc.cluster.local' } }] }] });

  test('the root hears of a delegate that is missing or not exported to it', () => {
    expect(warn([api, hidden, root])).toEqual([
      'spec.http[1].delegate: no VirtualService default/gone without hosts to delegate to; this route is ignored',
      'spec.http[2].delegate: VirtualService team/private is not exported to namespace default; this route is ignored',
    ]);
  });

  test('the delegate hears of a route whose match leaves the root match', () => {
    expect(warn([root, hidden, api])).toEqual([
      'spec.http[1].match: fits no match of spec.http[0] of VirtualService default/root, which delegates to this VirtualService (a delegate may only narrow the root\'s match); this route is ignored there',
    ]);
  });
});

describe('DestinationRule warnings', () => {
  test.each<[string, AnyConfig[], string[]]>([
    ['a rule for an existing service: none', [reviewsDr(['v1'])], []],
    ['a host that matches no service', [cfg('DestinationRule', 'default', 'typo', { host: 'reveiws' })], ['spec.host: host reveiws.default.svc.cluster.local matches no Service or ServiceEntry']],
    ['a wildcard host is never reported', [cfg('DestinationRule', 'trellis-system', 'all', { host: '*.local' })], []],
    ['a ServiceEntry host counts', [cfg('ServiceEntry', 'egress', 'api', { hosts: ['api.example.com'] }), cfg('DestinationRule', 'egress', 'api', { host: 'api.example.com' })], []],
    [
      'a subset an older rule for the same host already defines',
      [reviewsDr(['v1', 'v2']), reviewsDr(['v2', 'v3'], 'default', 'more')],
      [`spec.subsets[0].name: subset "v2" of host ${REVIEWS} is already defined by the older DestinationRule default/reviews; this definition is ignored`],
    ],
    [
      'a second top-level traffic policy for the same host',
      [
        cfg('DestinationRule', 'default', 'lb', { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }),
        cfg('DestinationRule', 'default', 'tls', { host: REVIEWS, trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } }),
      ],
      [`spec.trafficPolicy: ignored: the older DestinationRule default/lb already sets a top-level trafficPolicy for host ${REVIEWS} in this namespace`],
    ],
    ['same host in another namespace: no merge, no warning', [reviewsDr(['v1']), cfg('DestinationRule', 'team-a', 'reviews', { host: REVIEWS, subsets: [{ name: 'v1' }] })], []],
  ])('%s', (_name, configs, want) => {
    expect(warn(configs)).toEqual(want);
  });

  test('the older rule of a merge gets no warning', () => {
    const older = reviewsDr(['v1', 'v2']);
    const store = new ConfigStore();
    store.upsert(older);
    store.upsert(reviewsDr(['v2'], 'default', 'newer'));
    const registry = new ServiceRegistry();
    registry.upsertService(svc('default', 'reviews'));
    expect(warningsFor(older, new Mesh(store, registry))).toEqual([]);
  });
});

describe('ServiceEntry warnings', () => {
  test.each<[string, AnyConfig[], string[]]>([
    ['an external host: none', [cfg('ServiceEntry', 'egress', 'api', { hosts: ['api.example.com'] })], []],
    [
      'a host that is a Kubernetes Service',
      [cfg('ServiceEntry', 'egress', 'squat', { hosts: ['api.example.com', REVIEWS] })],
      [`spec.hosts[1]: host ${REVIEWS} is the Kubernetes Service default/reviews, which takes precedence over this ServiceEntry`],
    ],
    [
      'a host an older ServiceEntry of the namespace defines',
      [cfg('ServiceEntry', 'egress', 'first', { hosts: ['api.example.com'] }), cfg('ServiceEntry', 'egress', 'second', { hosts: ['api.example.com'] })],
      ['spec.hosts[0]: host api.example.com is also defined by the older ServiceEntry egress/first in this namespace, which takes precedence'],
    ],
    ['the same host in another namespace: none', [cfg('ServiceEntry', 'a', 'first', { hosts: ['api.example.com'] }), cfg('ServiceEntry', 'b', 'second', { hosts: ['api.example.com'] })], []],
  ])('%s', (_name, configs, want) => {
    expect(warn(configs)).toEqual(want);
  });
});

test('Gateways get no warnings', () => {
  expect(warn([cfg('Gateway', 'istio-ingress', 'gw', { servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] })])).toEqual([]);
});

test('remembered warnings: the same mesh and generation give what was computed; a new generation or a new mesh is judged again', () => {
  const store = new ConfigStore();
  const registry = new ServiceRegistry();
  registry.upsertService(svc('default', 'reviews'));
  const vs = { ...cfg('VirtualService', 'default', 'reviews', split('v1', 'v2')), generation: 1 };
  store.upsert(vs);
  const warnings = rememberedWarnings();
  const mesh = new Mesh(store, registry);
  const first = warnings(vs, mesh);
  expect(first.join('\n')).toMatch(/subset "v1"/);
  // A status write's echo: the same generation, a new resourceVersion.
  expect(warnings({ ...vs, resourceVersion: 'status-echo' }, mesh)).toBe(first);
  // The DestinationRule arrives: a new mesh, judged again.
  store.upsert(reviewsDr(['v1', 'v2']));
  expect(warnings(vs, new Mesh(store, registry))).toEqual([]);
  // A new generation of the object in the old mesh: judged again too.
  const next = { ...cfg('VirtualService', 'default', 'reviews', split('v1', 'v3')), generation: 2 };
  expect(warnings(next, mesh)).not.toBe(first);
});
