// Gateways merge the VirtualServices bound to them (Istio's "split large virtual services"):
// rules concatenated oldest first, each VirtualService's order kept, catch-alls last.
import type { NetworkingKind } from '../../src/api/common.js';
import type { GatewaySpec } from '../../src/api/gateway.js';
import type { HTTPMatchRequest, VirtualServiceSpec } from '../../src/api/virtual-service.js';
import type { Config, ConfigOf } from '../../src/model/config-store.js';
import { isCatchAllMatch, mergeGatewayRoutes, routesForGateway, type GatewayVirtualHost } from '../../src/model/gateway-routes.js';
import { resolveHttpRoutes } from '../../src/model/http-routes.js';
import { resolveVirtualService, type ResolvedVirtualService } from '../../src/model/virtual-services.js';
import { config } from '../support/mesh-fixtures.js';

const cfg = <K extends NetworkingKind>(kind: K, namespace: string, name: string, spec: unknown): ConfigOf<K> => config(kind, namespace, name, spec);
const vs = (ns: string, name: string, spec: VirtualServiceSpec): ResolvedVirtualService =>
  resolveVirtualService(cfg('VirtualService', ns, name, spec), { defaultExportTo: ['*'] });
const gateway = (ns: string, name: string, spec: GatewaySpec): Config<GatewaySpec> => cfg('Gateway', ns, name, spec);
/** Each VirtualService's resolved routes, delegates looked up among `all`. */
const routesIn = (all: readonly ResolvedVirtualService[]) => (v: ResolvedVirtualService) =>
  resolveHttpRoutes(v, (ns, name) => all.find((x) => x.config.namespace === ns && x.config.name === name), 'cluster.local').routes;

/** "vs-name#httpIndex.matchIndex" for each route of a virtual host. */
const routeIds = (vh: GatewayVirtualHost | undefined): string[] => (vh?.routes ?? []).map((r) => `${r.source.name}#${r.httpIndex}${r.matchIndex === undefined ? '' : `.${r.matchIndex}`}`);
const prefix = (p: string): HTTPMatchRequest => ({ uri: { prefix: p } });

describe('isCatchAllMatch', () => {
  test.each<[string, HTTPMatchRequest | undefined, boolean]>([
    ['no match at all', undefined, true],
    ['empty match', {}, true],
    ['prefix /', { uri: { prefix: '/' } }, true],
    ['regex .*', { uri: { regex: '.*' } }, true],
    ['prefix / with a port (port is not an Envoy condition)', { uri: { prefix: '/' }, port: 80 }, true],
    ['prefix / ignoring case', { uri: { prefix: '/' }, ignoreUriCase: true }, true],
    ['prefix /api', { uri: { prefix: '/api' } }, false],
    ['exact /', { uri: { exact: '/' } }, false],
    ['prefix / with a header', { uri: { prefix: '/' }, headers: { 'x-user': { exact: 'jason' } } }, false],
    ['headers only', { headers: { 'x-user': { exact: 'jason' } } }, false],
    ['without headers', { withoutHeaders: { 'x-debug': {} } }, false],
    ['query params', { queryParams: { v: { exact: '2' } } }, false],
    ['method', { method: { exact: 'GET' } }, false],
    ['authority', { authority: { exact: 'a.example.com' } }, false],
    ['scheme', { scheme: { exact: 'https' } }, false],
  ])('%s', (_what, m, want) => {
    expect(isCatchAllMatch(m)).toBe(want);
  });
});

describe('routesForGateway', () => {
  test('one entry per match; matches for another gateway or port are left out', () => {
    const v = vs('default', 'app', {
      hosts: ['app.example.com'],
      gateways: ['gw', 'other'],
      http: [
        { match: [prefix('/a'), { uri: { prefix: '/b' }, gateways: ['other'] }, { uri: { prefix: '/c' }, port: 8443 }], route: [{ destination: { host: 'a' } }] },
        { route: [{ destination: { host: 'b' } }] },
        { match: [{ uri: { prefix: '/d' }, gateways: ['default/gw'] }], route: [{ destination: { host: 'd' } }] },
      ],
    });
    const routes = routesForGateway(v, routesIn([v])(v), 'default/gw', 80);
    // The route without matches catches everything: as Istio, the VirtualService is read no further.
    expect(routes.map((r) => [r.httpIndex, r.matchIndex, r.catchAll])).toEqual([
      [0, 0, false],
      [1, undefined, true],
    ]);
    expect(routesForGateway(v, routesIn([v])(v), 'default/gw', 8443).map((r) => r.matchIndex)).toEqual([0, 2, undefined]);
  });
});

describe('mergeGatewayRoutes', () => {
  const gw = gateway('istio-ingress', 'public', {
    selector: { istio: 'ingressgateway' },
    servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*/myapp.com'] }],
  });
  const bind = { gateways: ['istio-ingress/public'] };

  test('fragments for one host merge, oldest first, catch-alls moved last', () => {
    const all = [
      vs('team-a', 'reviews', { hosts: ['myapp.com'], ...bind, http: [{ match: [prefix('/reviews')], route: [{ destination: { host: 'reviews' } }] }, { route: [{ destination: { host: 'home' } }] }] }),
      vs('team-b', 'ratings', { hosts: ['myapp.com'], ...bind, http: [{ match: [prefix('/ratings')], route: [{ destination: { host: 'ratings' } }] }, { match: [prefix('/ratings/v2')], route: [{ destination: { host: 'ratings' } }] }] }),
      vs('team-c', 'details', { hosts: ['myapp.com'], ...bind, http: [{ match: [prefix('/')], route: [{ destination: { host: 'fallback' } }] }, { match: [prefix('/details')], route: [{ destination: { host: 'details' } }] }] }),
    ];
    const merged = mergeGatewayRoutes(gw, all, routesIn(all));
    expect(merged).toHaveLength(1);
    expect(merged[0].host).toBe('myapp.com');
    expect(merged[0].port).toBe(80);
    expect(merged[0].virtualServices.map((r) => r.name)).toEqual(['reviews', 'ratings', 'details']);
    // details' first route matches every request, so its /details route is never read (Istio).
    expect(routeIds(merged[0])).toEqual(['reviews#0.0', 'ratings#0.0', 'ratings#1.0', 'reviews#1', 'details#0.0']);
  });

  test('VirtualServices not bound to the gateway, or not exported to the proxy namespace, are left out', () => {
    const all = [
      vs('team-a', 'bound', { hosts: ['myapp.com'], ...bind, http: [{ route: [{ destination: { host: 'a' } }] }] }),
      vs('team-a', 'sidecar-only', { hosts: ['myapp.com'], http: [{ route: [{ destination: { host: 'b' } }] }] }),
      vs('team-a', 'private', { hosts: ['myapp.com'], ...bind, exportTo: ['.'], http: [{ route: [{ destination: { host: 'c' } }] }] }),
      vs('team-a', 'exported', { hosts: ['myapp.com'], ...bind, exportTo: ['istio-ingress'], http: [{ route: [{ destination: { host: 'd' } }] }] }),
    ];
    const merged = mergeGatewayRoutes(gw, all, routesIn(all));
    // "exported" ranks before the public one for a proxy in istio-ingress.
    expect(merged[0].virtualServices.map((r) => r.name)).toEqual(['exported', 'bound']);
    // A gateway proxy running in team-a sees the private one first.
    expect(mergeGatewayRoutes(gw, all, routesIn(all), 'team-a')[0].virtualServices.map((r) => r.name)).toEqual(['private', 'bound']);
  });

  test('server hosts restrict which namespaces may bind, and VirtualService hosts intersect them', () => {
    const g = gateway('istio-ingress', 'gw', {
      servers: [
        { port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['prod/*.example.com', './status.example.com'] },
        { port: { number: 443, name: 'https', protocol: 'HTTPS' }, hosts: ['*'], tls: { mode: 'SIMPLE', credentialName: 'cert' } },
      ],
    });
    const b = { gateways: ['istio-ingress/gw'] };
    const all = [
      vs('prod', 'shop', { hosts: ['shop.example.com', 'other.org'], ...b, http: [{ route: [{ destination: { host: 'shop' } }] }] }),
      vs('dev', 'shop', { hosts: ['shop.example.com'], ...b, http: [{ route: [{ destination: { host: 'shop' } }] }] }),
      vs('istio-ingress', 'status', { hosts: ['status.example.com'], ...b, http: [{ route: [{ destination: { host: 'status' } }] }] }),
      vs('prod', 'wild', { hosts: ['*.example.com'], ...b, http: [{ route: [{ destination: { host: 'wild' } }] }] }),
    ];
    const merged = mergeGatewayRoutes(g, all, routesIn(all));
    const summary = merged.map((vh) => `${vh.port} ${vh.host}: ${vh.virtualServices.map((r) => `${r.namespace}/${r.name}`).join(',')}`);
    expect(summary).toEqual([
      '80 *.example.com: prod/wild',
      '80 shop.example.com: prod/shop',
      '80 status.example.com: istio-ingress/status',
      '443 *.example.com: prod/wild',
      '443 other.org: prod/shop',
      '443 shop.example.com: prod/shop,dev/shop',
      '443 status.example.com: istio-ingress/status',
    ]);
  });

  test('a short VirtualService host is an in-cluster FQDN and only binds to a matching server host', () => {
    const g = gateway('istio-ingress', 'gw', { servers: [{ port: { number: 80, name: 'http' }, hosts: ['*'] }] });
    const only = [vs('default', 'r', { hosts: ['reviews'], gateways: ['istio-ingress/gw'], http: [{ route: [{ destination: { host: 'reviews' } }] }] })];
    const merged = mergeGatewayRoutes(g, only, routesIn(only));
    expect(merged.map((vh) => vh.host)).toEqual(['reviews.default.svc.cluster.local']);
  });

  test('no bound VirtualService: no virtual hosts', () => {
    expect(mergeGatewayRoutes(gw, [], routesIn([]))).toEqual([]);
  });
});
