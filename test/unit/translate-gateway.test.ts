import { buildMesh, config } from '../support/mesh-fixtures.js';
import { gatewayPorts, gatewayRouteConfigurations, gatewaySnapshot } from '../../src/translate/gateway.js';
import { gatewaysFor } from '../../src/translate/gateway-proxy.js';
import { TypeUrl } from '../../src/xds/types.js';

const services = [{ namespace: 'web', name: 'httpbin', clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 8000, targetPort: 8080 }], endpoints: [{ address: '10.244.0.9' }] }];
const gw = config('Gateway', 'web', 'gw', { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['httpbin.example.com'] }] });
const vs = config('VirtualService', 'web', 'httpbin', {
  hosts: ['httpbin.example.com'],
  gateways: ['gw'],
  http: [{ match: [{ uri: { prefix: '/status' } }, { uri: { exact: '/delay' } }], route: [{ destination: { host: 'httpbin', port: { number: 8000 } } }] }],
});
const meshOnly = config('VirtualService', 'web', 'mesh-only', { hosts: ['httpbin'], http: [{ route: [{ destination: { host: 'httpbin' } }] }] });
const proxy = { namespace: 'web', ip: '10.244.0.5', labels: { istio: 'ingressgateway' } };

test('a gateway proxy is selected by labels only', () => {
  const mesh = buildMesh(services, [gw]);
  expect(gatewaysFor(mesh, proxy).map((g) => g.name)).toEqual(['gw']);
  expect(gatewaysFor(mesh, { ...proxy, labels: { app: 'other' } })).toEqual([]);
});

test('the routes of VirtualServices bound to the gateway, by host, in RDS http.<port>', () => {
  const mesh = buildMesh(services, [gw, vs, meshOnly]);
  const [rc] = gatewayRouteConfigurations(gatewayPorts(mesh, proxy));
  expect(rc.name).toBe('http.80');
  expect(rc.virtual_hosts?.map((v) => v.domains)).toEqual([['httpbin.example.com', 'httpbin.example.com:*']]);
  const routes = rc.virtual_hosts![0].routes!;
  expect(routes.map((r) => r.match)).toEqual([expect.objectContaining({ prefix: '/status' }), expect.objectContaining({ path: '/delay' })]);
  expect(routes.every((r) => r.route?.cluster === 'outbound|8000||httpbin.web.svc.cluster.local')).toBe(true);
});

test("delegation on a gateway: Istio's example, a root bound to the gateway delegating paths to other namespaces", () => {
  const more = [
    { namespace: 'products', name: 'productpage', clusterIP: '10.96.0.21', ports: [{ name: 'http', port: 9080 }], endpoints: [{ address: '10.244.0.10' }] },
    { namespace: 'reviews', name: 'reviews', clusterIP: '10.96.0.22', ports: [{ name: 'http', port: 9080 }], endpoints: [{ address: '10.244.0.11' }] },
  ];
  const root = config('VirtualService', 'web', 'bookinfo', {
    hosts: ['httpbin.example.com'],
    gateways: ['gw'],
    http: [
      { match: [{ uri: { prefix: '/productpage' } }], delegate: { name: 'productpage', namespace: 'products' } },
      { match: [{ uri: { prefix: '/reviews' } }], delegate: { name: 'reviews', namespace: 'reviews' } },
      { route: [{ destination: { host: 'httpbin', port: { number: 8000 } } }] },
    ],
  });
  const productpage = config('VirtualService', 'products', 'productpage', {
    http: [{ match: [{ uri: { prefix: '/productpage/v1' } }], route: [{ destination: { host: 'productpage' } }] }, { route: [{ destination: { host: 'productpage' } }], timeout: '2s' }],
  });
  const reviews = config('VirtualService', 'reviews', 'reviews', { http: [{ match: [{ uri: { prefix: '/ratings' } }], route: [{ destination: { host: 'reviews' } }] }, { route: [{ destination: { host: 'reviews' } }] }] });
  const mesh = buildMesh([...services, ...more], [gw, root, productpage, reviews]);
  const routes = gatewayRouteConfigurations(gatewayPorts(mesh, proxy))[0].virtual_hosts![0].routes!;
  expect(routes.map((r) => [r.match?.prefix, r.route?.cluster, r.route?.timeout?.seconds])).toEqual([
    ['/productpage/v1', 'outbound|9080||productpage.products.svc.cluster.local', 0],
    ['/productpage', 'outbound|9080||productpage.products.svc.cluster.local', 2],
    // The reviews delegate's /ratings is outside the root's /reviews: ignored, as Istio does.
    ['/reviews', 'outbound|9080||reviews.reviews.svc.cluster.local', 0],
    ['/', 'outbound|8000||httpbin.web.svc.cluster.local', 0],
  ]);
});

test('the snapshot binds a listener per HTTP server port, with the clusters and endpoints it routes to', () => {
  const snap = gatewaySnapshot(buildMesh(services, [gw, vs]), proxy);
  const listener = snap[TypeUrl.Listener]!.get('0.0.0.0_80');
  expect(listener?.address?.socket_address?.port_value).toBe(80);
  expect(snap[TypeUrl.Cluster]!.has('outbound|8000||httpbin.web.svc.cluster.local')).toBe(true);
  expect(snap[TypeUrl.Endpoint]!.get('outbound|8000||httpbin.web.svc.cluster.local')?.endpoints?.[0].lb_endpoints?.[0].endpoint?.address?.socket_address?.address).toBe('10.244.0.9');
  // No sidecar plumbing on a gateway.
  expect([...snap[TypeUrl.Listener]!.keys()]).toEqual(['0.0.0.0_80']);
});

test('the listener binds the targetPort of the gateway Service for the server port (80 → 8080), as Istio', () => {
  const gwService = { namespace: 'web', name: 'ingress', clusterIP: '10.96.0.30', ports: [{ name: 'http', port: 80, targetPort: 8080 }], selector: { istio: 'ingressgateway' } };
  const snap = gatewaySnapshot(buildMesh([...services, gwService], [gw, vs]), proxy);
  expect([...snap[TypeUrl.Listener]!.keys()]).toEqual(['0.0.0.0_8080']);
  expect(snap[TypeUrl.Listener]!.get('0.0.0.0_8080')?.address?.socket_address?.port_value).toBe(8080);
  // Routes stay keyed by the Gateway's port.
  expect([...snap[TypeUrl.Route]!.keys()]).toEqual(['http.80']);
});

test('TLS passthrough takes the tls routes of VirtualServices bound to the Gateway and visible to the gateway proxy, matches for other gateways left out', () => {
  const pt = config('Gateway', 'web', 'pt', { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 443, name: 'tls', protocol: 'TLS' }, hosts: ['*'], tls: { mode: 'PASSTHROUGH' } }] });
  const tlsVs = (ns: string, name: string, sni: string, extra: object = {}, match: object = {}) =>
    config('VirtualService', ns, name, { hosts: [sni], gateways: ['web/pt'], tls: [{ match: [{ sniHosts: [sni], ...match }], route: [{ destination: { host: 'httpbin.web.svc.cluster.local', port: { number: 8000 } } }] }], ...extra });
  const mesh = buildMesh(services, [
    pt,
    tlsVs('web', 'seen', 'a.example.com'),
    tlsVs('other', 'private', 'b.example.com', { exportTo: ['.'] }),
    tlsVs('web', 'elsewhere', 'c.example.com', {}, { gateways: ['web/another'] }),
  ]);
  const listener = gatewaySnapshot(mesh, proxy)[TypeUrl.Listener]!.get('0.0.0.0_443');
  expect(listener?.filter_chains?.map((c) => c.filter_chain_match?.server_names)).toEqual([['a.example.com']]);
});
