// The translation's golden set: named meshes and proxies that together use every feature the
// translation supports, for tests that check every produced resource (encoding, and Envoy's
// own validation). TLS origination needs certificate files; pass their paths.
import type { Config } from '../../src/model/config-store.js';
import type { Mesh } from '../../src/model/mesh.js';
import type { SidecarOptions, SidecarProxy } from '../../src/translate/input.js';
import { buildMesh, config, sidecar, type ServiceFixture } from './mesh-fixtures.js';

export interface Scenario {
  name: string;
  mesh: Mesh;
  proxy: SidecarProxy;
  options: Partial<SidecarOptions>;
}

export interface CertFiles {
  ca: string;
  cert: string;
  key: string;
}

const http = (port: number, name = 'http') => ({ name, port });

function bookinfo(): ServiceFixture[] {
  const ep = (ip: string, version: string, zone?: string) => ({ address: ip, labels: { version }, ...(zone ? { zone, region: 'r1' } : {}) });
  return [
    { namespace: 'bookinfo', name: 'productpage', clusterIP: '10.96.0.1', ports: [http(9080)], selector: { app: 'productpage' }, endpoints: [ep('10.1.0.1', 'v1')] },
    { namespace: 'bookinfo', name: 'reviews', clusterIP: '10.96.0.2', ports: [http(9080)], endpoints: [ep('10.1.0.2', 'v1', 'z1'), ep('10.1.0.3', 'v2', 'z2'), ep('10.1.0.4', 'v3', 'z2')] },
    { namespace: 'bookinfo', name: 'ratings', clusterIP: '10.96.0.3', ports: [http(9080), { name: 'grpc', port: 9090 }], endpoints: [ep('10.1.0.5', 'v1')] },
    { namespace: 'bookinfo', name: 'details', clusterIP: '10.96.0.4', ports: [http(9080)], endpoints: [ep('10.1.0.6', 'v1')] },
    { namespace: 'bookinfo', name: 'mysql', clusterIP: '10.96.0.5', ports: [{ name: 'tcp', port: 3306 }], endpoints: [ep('10.1.0.7', 'v1')] },
    { namespace: 'bookinfo', name: 'mongo', clusterIP: 'None', ports: [{ name: 'mongo', port: 27017 }], endpoints: [ep('10.1.0.8', 'v1')] },
    { namespace: 'shop', name: 'cart', clusterIP: '10.96.1.1', ports: [http(80), { name: 'https', port: 443 }], endpoints: [ep('10.2.0.1', 'v1')] },
    { namespace: 'private', name: 'vault', clusterIP: '10.96.2.1', ports: [http(8200)], exportTo: ['.'], endpoints: [ep('10.3.0.1', 'v1')] },
  ];
}

function routing(): Config[] {
  const subsets = [1, 2, 3].map((n) => ({ name: `v${n}`, labels: { version: `v${n}` } }));
  return [
    config('DestinationRule', 'bookinfo', 'reviews', {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: { simple: 'LEAST_REQUEST' },
        connectionPool: { tcp: { maxConnections: 100, connectTimeout: '30ms', tcpKeepalive: { time: '7200s', interval: '75s', probes: 9 } }, http: { http1MaxPendingRequests: 10, http2MaxRequests: 100, maxRequestsPerConnection: 10, maxRetries: 3, idleTimeout: '60s' } },
        outlierDetection: { consecutive5xxErrors: 7, consecutiveGatewayErrors: 3, interval: '5m', baseEjectionTime: '15m', maxEjectionPercent: 50, minHealthPercent: 10 },
        portLevelSettings: [{ port: { number: 9080 }, loadBalancer: { simple: 'ROUND_ROBIN' } }],
      },
      subsets: [...subsets.slice(0, 2), { ...subsets[2], trafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { name: 'user', ttl: '0s' } } } } }],
    }),
    config('DestinationRule', 'bookinfo', 'ratings', { host: 'ratings', trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 65537 } } }, connectionPool: { http: { h2UpgradePolicy: 'UPGRADE' } } }, subsets: subsets.slice(0, 1) }),
    config('DestinationRule', 'bookinfo', 'details', { host: 'details', trafficPolicy: { loadBalancer: { consistentHash: { httpQueryParameterName: 'u', ringHash: { minimumRingSize: 1024 } } } } }),
    config('DestinationRule', 'bookinfo', 'mongo', { host: 'mongo', trafficPolicy: { loadBalancer: { simple: 'PASSTHROUGH' } } }),
    config('VirtualService', 'bookinfo', 'reviews', {
      hosts: ['reviews'],
      http: [
        { name: 'jason', match: [{ headers: { 'end-user': { exact: 'jason' } }, ignoreUriCase: true, uri: { prefix: '/Reviews' } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
        { name: 'regex', match: [{ uri: { regex: '^/r/[0-9]+$' }, method: { exact: 'GET' }, queryParams: { debug: {}, v: { regex: '[0-9]' } }, withoutHeaders: { 'x-skip': {} } }], route: [{ destination: { host: 'reviews', subset: 'v3' } }], retries: { attempts: 5, perTryTimeout: '1s', retryOn: 'gateway-error,connect-failure,503', backoff: '25ms' } },
        { name: 'fault', match: [{ uri: { prefix: '/fault' } }], route: [{ destination: { host: 'reviews', subset: 'v1' } }], fault: { delay: { fixedDelay: '7s', percentage: { value: 0.1 } }, abort: { grpcStatus: 'UNAVAILABLE', percentage: { value: 10 } } } },
        { name: 'mirror', match: [{ uri: { prefix: '/mirror' } }], route: [{ destination: { host: 'reviews', subset: 'v1' } }], mirrors: [{ destination: { host: 'details' }, percentage: { value: 5 } }, { destination: { host: 'ratings', port: { number: 9080 } } }] },
        { name: 'cors', match: [{ uri: { exact: '/cors' } }], route: [{ destination: { host: 'reviews' } }], corsPolicy: { allowOrigins: [{ regex: 'https://.*\\.example\\.com' }, { prefix: 'https://a' }], allowOrigin: ['*'], allowMethods: ['GET'], allowHeaders: ['x-a'], exposeHeaders: ['x-b'], maxAge: '1m', allowCredentials: false, unmatchedPreflights: 'IGNORE' } },
        { name: 'redirect', match: [{ uri: { exact: '/old' } }], redirect: { uri: '/new', authority: 'new.example.com', port: 8080, scheme: 'https', redirectCode: 307 } },
        { name: 'direct', match: [{ uri: { exact: '/bytes' } }], directResponse: { status: 200, body: { bytes: Buffer.from('hello').toString('base64') } } },
        { name: 'rewrite', match: [{ uri: { prefix: '/v1/' } }], rewrite: { uriRegexRewrite: { match: '^/v1/(.*)$', rewrite: '/\\1' }, authority: 'reviews-internal' }, route: [{ destination: { host: 'reviews' } }] },
        { name: 'delegated', match: [{ uri: { prefix: '/team' } }], delegate: { name: 'reviews-team', namespace: 'team' } },
        {
          name: 'split',
          route: [
            { destination: { host: 'reviews', subset: 'v1' }, weight: 50, headers: { request: { set: { 'x-subset': 'v1' } }, response: { remove: ['x-internal'] } } },
            { destination: { host: 'reviews', subset: 'v2' }, weight: 25 },
            { destination: { host: 'reviews', subset: 'v3' }, weight: 25 },
          ],
          headers: { request: { add: { 'x-a': 'b' }, remove: ['cookie'] }, response: { set: { 'x-served-by': 'reviews' } } },
          timeout: '2.5s',
        },
      ],
    }),
    config('VirtualService', 'team', 'reviews-team', { http: [{ match: [{ uri: { prefix: '/team/a' } }], route: [{ destination: { host: 'reviews.bookinfo.svc.cluster.local', subset: 'v1' } }] }, { route: [{ destination: { host: 'reviews.bookinfo.svc.cluster.local' } }] }] }),
    config('VirtualService', 'bookinfo', 'mysql', { hosts: ['mysql'], tcp: [{ match: [{ port: 3306 }], route: [{ destination: { host: 'mysql' }, weight: 60 }, { destination: { host: 'mongo', port: { number: 27017 } }, weight: 40 }] }] }),
    config('VirtualService', 'shop', 'cart', { hosts: ['cart.shop.svc.cluster.local'], tls: [{ match: [{ sniHosts: ['cart.shop.svc.cluster.local'], port: 443 }], route: [{ destination: { host: 'cart.shop.svc.cluster.local', port: { number: 443 } } }] }] }),
    config('ServiceEntry', 'bookinfo', 'external', { hosts: ['api.example.com'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }, { number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'DNS', location: 'MESH_EXTERNAL' }),
    config('ServiceEntry', 'bookinfo', 'wiki', { hosts: ['*.wikipedia.org'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], resolution: 'NONE' }),
    config('ServiceEntry', 'bookinfo', 'vm', { hosts: ['legacy.vm.internal'], addresses: ['192.168.10.0/24'], ports: [{ number: 5432, name: 'tcp', protocol: 'TCP' }], resolution: 'STATIC', endpoints: [{ address: '192.168.10.5', labels: { version: 'v1' }, locality: 'r1/z1', weight: 3 }] }),
  ];
}

function tlsOrigination(files: CertFiles): Config[] {
  return [
    config('DestinationRule', 'bookinfo', 'external', { host: 'api.example.com', trafficPolicy: { portLevelSettings: [{ port: { number: 80 }, tls: { mode: 'SIMPLE', caCertificates: files.ca, subjectAltNames: ['api.example.com'] } }] } }),
    config('DestinationRule', 'shop', 'cart', { host: 'cart.shop.svc.cluster.local', trafficPolicy: { tls: { mode: 'MUTUAL', clientCertificate: files.cert, privateKey: files.key, caCertificates: files.ca, sni: 'cart.internal' } } }),
  ];
}

/** Every scenario of the golden set. */
export function scenarios(files: CertFiles): Scenario[] {
  const full = buildMesh(bookinfo(), [...routing(), ...tlsOrigination(files)]);
  const bare = buildMesh(bookinfo());
  return [
    { name: 'bookinfo productpage, every feature', mesh: full, proxy: sidecar('bookinfo', { app: 'productpage', version: 'v1' }, '10.1.0.1'), options: {} },
    { name: 'bookinfo productpage, REGISTRY_ONLY', mesh: full, proxy: sidecar('bookinfo', { app: 'productpage' }, '10.1.0.1'), options: { outboundPolicy: 'REGISTRY_ONLY' } },
    { name: 'a proxy in another namespace', mesh: full, proxy: sidecar('shop', { app: 'cart' }, '10.2.0.1'), options: {} },
    { name: 'no Istio config at all', mesh: bare, proxy: sidecar('private', { app: 'vault' }, '10.3.0.1'), options: {} },
    { name: 'an empty mesh', mesh: buildMesh([]), proxy: sidecar('default'), options: {} },
  ];
}
