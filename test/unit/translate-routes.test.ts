// Outbound routes: RouteConfiguration `<port>` with a virtual host per service (every name
// form), the default route, and VirtualService HTTP routes: matches, weighted subsets,
// timeouts, retries (Istio's defaults), redirects, direct responses, rewrites, faults, mirrors,
// CORS, header operations and consistent-hash policies.
import { durationProblem } from '../../src/api/validate-primitives.js';
import type { HTTPMatchRequest, HTTPRoute } from '../../src/api/virtual-service.js';
import { routeMatch } from '../../src/translate/http-match.js';
import { retryPolicy } from '../../src/translate/route-policies.js';
import { fallbackCluster } from '../../src/translate/listeners-outbound.js';
import { PASSTHROUGH_CLUSTER } from '../../src/translate/names.js';
import { outboundRouteConfigurations, serviceDomains } from '../../src/translate/routes.js';
import { buildMesh, config, decoded, sidecar } from '../support/mesh-fixtures.js';
import type { RouteConfiguration } from '../../src/xds/types.js';

const REVIEWS = 'reviews.prod.svc.cluster.local';
const SERVICES = [
  { namespace: 'prod', name: 'reviews', clusterIP: '10.96.0.1', ports: [{ name: 'http', port: 9080 }] },
  { namespace: 'prod', name: 'ratings', clusterIP: '10.96.0.2', ports: [{ name: 'http', port: 9080 }] },
  { namespace: 'other', name: 'details', clusterIP: '10.96.0.3', ports: [{ name: 'http', port: 9080 }, { name: 'http-admin', port: 8080 }] },
];

function routeConfigs(http: HTTPRoute[] | undefined, opts: { labels?: Record<string, string>; namespace?: string; dr?: object; policy?: 'ALLOW_ANY' | 'REGISTRY_ONLY' } = {}): Map<string, RouteConfiguration> {
  const configs = [
    ...(http ? [config('VirtualService', 'prod', 'reviews', { hosts: ['reviews'], http })] : []),
    ...(opts.dr ? [config('DestinationRule', 'prod', 'reviews', { host: 'reviews', ...opts.dr })] : []),
  ];
  const mesh = buildMesh(SERVICES, configs);
  return new Map(outboundRouteConfigurations(mesh, sidecar(opts.namespace ?? 'prod', opts.labels ?? {}), fallbackCluster({ outboundPolicy: opts.policy ?? 'ALLOW_ANY' })).map((r) => [r.name ?? '', r]));
}

function reviewsRoutes(http: HTTPRoute[], opts: Parameters<typeof routeConfigs>[1] = {}) {
  const rc = routeConfigs(http, opts).get('9080');
  return rc?.virtual_hosts?.find((v) => v.name === `${REVIEWS}:9080`)?.routes ?? [];
}

test('a RouteConfiguration per HTTP port, a virtual host per service and a catch-all', () => {
  const rcs = routeConfigs(undefined);
  expect([...rcs.keys()]).toEqual(['8080', '9080']);
  expect(rcs.get('9080')?.virtual_hosts?.map((v) => v.name)).toEqual([`details.other.svc.cluster.local:9080`, `ratings.prod.svc.cluster.local:9080`, `${REVIEWS}:9080`, 'allow_any']);
  expect(rcs.get('9080')?.virtual_hosts?.at(-1)).toMatchObject({ domains: ['*'], routes: [{ route: { cluster: 'PassthroughCluster' } }] });
  expect(routeConfigs(undefined, { policy: 'REGISTRY_ONLY' }).get('9080')?.virtual_hosts?.at(-1)).toMatchObject({ name: 'block_all', routes: [{ direct_response: { status: 502 } }] });
});

test('domains: every name form with and without the port, the short name only from the same namespace', () => {
  const svc = { hostname: REVIEWS, namespace: 'prod', source: 'Kubernetes' as const, addresses: ['10.96.0.1'] } as Parameters<typeof serviceDomains>[0];
  expect(serviceDomains(svc, 9080, 'prod', 'cluster.local')).toEqual([
    REVIEWS, `${REVIEWS}:9080`, 'reviews', 'reviews:9080', 'reviews.prod', 'reviews.prod:9080', 'reviews.prod.svc', 'reviews.prod.svc:9080', '10.96.0.1', '10.96.0.1:9080',
  ]);
  expect(serviceDomains(svc, 9080, 'other', 'cluster.local')).not.toContain('reviews');
});

test('without a VirtualService: one default route to the service, no timeout, Istio retries', () => {
  expect(reviewsRoutes([], {})).toEqual([]);
  const route = routeConfigs(undefined).get('9080')?.virtual_hosts?.find((v) => v.name === `${REVIEWS}:9080`)?.routes?.[0];
  expect(route).toMatchObject({ name: 'default', match: { prefix: '/' }, route: { cluster: `outbound|9080||${REVIEWS}`, timeout: { seconds: 0, nanos: 0 } } });
  expect(route?.route?.retry_policy).toMatchObject({
    retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
    num_retries: { value: 2 },
    retriable_status_codes: [503],
    host_selection_retry_max_attempts: 5,
  });
});

test.each<[string, HTTPMatchRequest | undefined, object]>([
  ['no match', undefined, { prefix: '/' }],
  ['uri exact', { uri: { exact: '/a' } }, { path: '/a' }],
  ['uri prefix', { uri: { prefix: '/api' } }, { prefix: '/api' }],
  ['uri regex', { uri: { regex: '/v[0-9]+/.*' } }, { safe_regex: { regex: '/v[0-9]+/.*' } }],
  ['ignoreUriCase', { uri: { prefix: '/API' }, ignoreUriCase: true }, { prefix: '/API', case_sensitive: { value: false } }],
  ['header exact', { headers: { 'End-User': { exact: 'jason' } } }, { prefix: '/', headers: [{ name: 'end-user', string_match: { exact: 'jason' } }] }],
  ['header prefix', { headers: { 'x-a': { prefix: 'b' } } }, { headers: [{ name: 'x-a', string_match: { prefix: 'b' } }] }],
  ['header regex', { headers: { 'x-a': { regex: 'b.*' } } }, { headers: [{ name: 'x-a', string_match: { safe_regex: { regex: 'b.*' } } }] }],
  ['header presence', { headers: { 'x-a': {} } }, { headers: [{ name: 'x-a', present_match: true }] }],
  ['withoutHeaders', { withoutHeaders: { 'x-a': { exact: 'b' } } }, { headers: [{ name: 'x-a', string_match: { exact: 'b' }, invert_match: true }] }],
  ['method, authority, scheme', { method: { exact: 'GET' }, authority: { prefix: 'reviews' }, scheme: { exact: 'http' } }, {
    headers: [
      { name: ':method', string_match: { exact: 'GET' } },
      { name: ':authority', string_match: { prefix: 'reviews' } },
      { name: ':scheme', string_match: { exact: 'http' } },
    ],
  }],
  ['queryParams', { queryParams: { v: { exact: '1' }, debug: {} } }, { query_parameters: [{ name: 'v', string_match: { exact: '1' } }, { name: 'debug', present_match: true }] }],
])('match: %s', (_name, m, want) => expect(routeMatch(m)).toMatchObject(want));

test('one Envoy route per match, in order; matches for other ports, labels, namespaces or gateways are left out', () => {
  const routes = reviewsRoutes(
    [
      { name: 'r1', match: [{ name: 'm1', uri: { prefix: '/a' } }, { uri: { prefix: '/b' } }], route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
      { name: 'r2', match: [{ port: 1234 }, { sourceLabels: { app: 'nope' } }, { sourceNamespace: 'elsewhere' }, { gateways: ['ingress/gw'] }], route: [{ destination: { host: 'reviews' } }] },
      { name: 'r3', match: [{ sourceLabels: { app: 'productpage' }, port: 9080 }], route: [{ destination: { host: 'reviews', subset: 'v3' } }] },
      { name: 'r4', route: [{ destination: { host: 'reviews' } }] },
    ],
    { labels: { app: 'productpage' } },
  );
  expect(routes.map((r) => [r.name, r.match?.prefix, r.route?.cluster])).toEqual([
    ['r1.m1', '/a', `outbound|9080|v1|${REVIEWS}`],
    ['r1', '/b', `outbound|9080|v1|${REVIEWS}`],
    // r3 catches everything from this proxy (port and sourceLabels are not request conditions):
    // as Istio, the routes after it (r4) are left out.
    ['r3', '/', `outbound|9080|v3|${REVIEWS}`],
  ]);
});

test('weighted destinations with subsets, ports and per-destination headers', () => {
  const [r] = reviewsRoutes([
    {
      route: [
        { destination: { host: 'reviews', subset: 'v1' }, weight: 75, headers: { request: { set: { 'x-v': '1' } } } },
        { destination: { host: 'reviews', subset: 'v2' }, weight: 20 },
        { destination: { host: 'details.other.svc.cluster.local', port: { number: 8080 } }, weight: 5 },
      ],
    },
  ]);
  expect(r.route?.weighted_clusters?.clusters).toEqual([
    { name: `outbound|9080|v1|${REVIEWS}`, weight: { value: 75 }, request_headers_to_add: [{ header: { key: 'x-v', value: '1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] },
    { name: `outbound|9080|v2|${REVIEWS}`, weight: { value: 20 } },
    { name: 'outbound|8080||details.other.svc.cluster.local', weight: { value: 5 } },
  ]);
  expect(r.route?.cluster).toBeUndefined();
});

test('timeout, rewrite and mirror', () => {
  const [r] = reviewsRoutes([
    {
      route: [{ destination: { host: 'reviews' } }],
      timeout: '1.5s',
      rewrite: { uri: '/v2/', authority: 'reviews-v2' },
      mirror: { host: 'ratings' },
      mirrorPercentage: { value: 25 },
    },
  ]);
  expect(r.route).toMatchObject({
    timeout: { seconds: 1, nanos: 500_000_000 },
    prefix_rewrite: '/v2/',
    host_rewrite_literal: 'reviews-v2',
    request_mirror_policies: [{ cluster: 'outbound|9080||ratings.prod.svc.cluster.local', runtime_fraction: { default_value: { numerator: 250000, denominator: 'MILLION' } } }],
  });
  const [rx] = reviewsRoutes([{ route: [{ destination: { host: 'reviews' } }], rewrite: { uriRegexRewrite: { match: '^/old/(.*)$', rewrite: '/new/\\1' } } }]);
  expect(rx.route?.regex_rewrite).toEqual({ pattern: { regex: '^/old/(.*)$' }, substitution: '/new/\\1' });
});

test.each([
  ['1h30m', { seconds: 5400, nanos: 0 }],
  ['1m0.25s', { seconds: 60, nanos: 250_000_000 }],
  ['1500ms', { seconds: 1, nanos: 500_000_000 }],
])('a timeout validation accepts (%s) reaches the Envoy route as Go reads it', (timeout, want) => {
  expect(durationProblem(timeout)).toBeUndefined();
  const [r] = reviewsRoutes([{ route: [{ destination: { host: 'reviews' } }], timeout }]);
  expect(r.route?.timeout).toEqual(want);
});

test.each<[string, Parameters<typeof retryPolicy>[0], object | undefined]>([
  ['unset: Istio defaults', undefined, { retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes', num_retries: { value: 2 }, retriable_status_codes: [503] }],
  ['attempts only', { attempts: 5 }, { num_retries: { value: 5 }, retriable_status_codes: [503] }],
  ['attempts 0 disables retries', { attempts: 0 }, undefined],
  ['retryOn with status codes', { attempts: 3, retryOn: '5xx,gateway-error,502', perTryTimeout: { seconds: 2, nanos: 0 } }, { retry_on: '5xx,gateway-error,retriable-status-codes', retriable_status_codes: [502], per_try_timeout: { seconds: 2, nanos: 0 } }],
])('retries: %s', (_name, r, want) => {
  const p = retryPolicy(r);
  if (want === undefined) expect(p).toBeUndefined();
  else expect(p).toMatchObject(want);
});

test('redirect and direct response', () => {
  const [redirect, direct] = reviewsRoutes([
    { match: [{ uri: { exact: '/old' } }], redirect: { uri: '/new', authority: 'x.example.com', port: 8443, scheme: 'https', redirectCode: 308 } },
    { directResponse: { status: 503, body: { string: 'down' } } },
  ]);
  expect(redirect.redirect).toEqual({ path_redirect: '/new', host_redirect: 'x.example.com', port_redirect: 8443, scheme_redirect: 'https', response_code: 'PERMANENT_REDIRECT' });
  expect(redirect.route).toBeUndefined();
  expect(direct.direct_response).toEqual({ status: 503, body: { inline_string: 'down' } });
});

test('fault injection and CORS as per-route filter config', () => {
  const [r] = reviewsRoutes([
    {
      route: [{ destination: { host: 'reviews' } }],
      fault: { delay: { fixedDelay: '2s', percentage: { value: 10 } }, abort: { httpStatus: 503, percentage: { value: 50 } } },
      corsPolicy: { allowOrigins: [{ exact: 'https://a.example.com' }], allowMethods: ['GET', 'POST'], allowHeaders: ['x-a'], maxAge: '24h', allowCredentials: true },
    },
  ]);
  const cfg = r.typed_per_filter_config ?? {};
  expect(decoded(cfg['envoy.filters.http.fault'])).toMatchObject({
    delay: { fixed_delay: { seconds: '2' }, percentage: { numerator: 100000, denominator: 'MILLION' } },
    abort: { http_status: 503, percentage: { numerator: 500000, denominator: 'MILLION' } },
  });
  expect(decoded(cfg['envoy.filters.http.cors'])).toMatchObject({
    allow_origin_string_match: [{ exact: 'https://a.example.com' }],
    allow_methods: 'GET,POST',
    allow_headers: 'x-a',
    max_age: '86400',
    allow_credentials: { value: true },
  });
});

test('request and response header operations', () => {
  const [r] = reviewsRoutes([{ route: [{ destination: { host: 'reviews' }, headers: { response: { add: { 'x-d': 'd' } } } }], headers: { request: { set: { 'x-a': 'a' }, add: { 'x-b': 'b' }, remove: ['x-c'] }, response: { remove: ['server'] } } }]);
  expect(r.request_headers_to_add).toEqual([
    { header: { key: 'x-a', value: 'a' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: 'x-b', value: 'b' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
  ]);
  expect(r.request_headers_to_remove).toEqual(['x-c']);
  expect(r.response_headers_to_remove).toEqual(['server']);
  expect(r.response_headers_to_add).toEqual([{ header: { key: 'x-d', value: 'd' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' }]);
});

test.each([
  [{ httpHeaderName: 'x-user' }, [{ header: { header_name: 'x-user' } }]],
  [{ httpCookie: { name: 'session', ttl: '60s', path: '/' } }, [{ cookie: { name: 'session', path: '/', ttl: { seconds: 60, nanos: 0 } } }]],
  [{ useSourceIp: true }, [{ connection_properties: { source_ip: true } }]],
  [{ httpQueryParameterName: 'u' }, [{ query_parameter: { name: 'u' } }]],
])('consistent hash %j becomes the route hash policy', (consistentHash, want) => {
  const route = routeConfigs(undefined, { dr: { trafficPolicy: { loadBalancer: { consistentHash } } } }).get('9080')?.virtual_hosts?.find((v) => v.name === `${REVIEWS}:9080`)?.routes?.[0];
  const [r] = reviewsRoutes([{ route: [{ destination: { host: 'reviews' } }] }], { dr: { trafficPolicy: { loadBalancer: { consistentHash } } } });
  expect(r.route?.hash_policy).toEqual(want);
  expect(route?.route?.hash_policy).toEqual(want);
});

test("a match naming gateways is judged by them alone, not by sourceLabels or sourceNamespace (Istio's sourceMatchHTTP)", () => {
  const routes = reviewsRoutes(
    [
      { name: 'by-gateway', match: [{ gateways: ['mesh'], sourceLabels: { app: 'nope' }, sourceNamespace: 'elsewhere', uri: { prefix: '/a' } }], route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
      { name: 'by-labels', match: [{ sourceLabels: { app: 'nope' }, uri: { prefix: '/b' } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
    ],
    { labels: { app: 'productpage' } },
  );
  expect(routes.map((r) => r.name)).toEqual(['by-gateway']);
});

describe('delegate VirtualServices', () => {
  const mesh = buildMesh(SERVICES, [
    config('VirtualService', 'prod', 'root', {
      hosts: ['reviews'],
      http: [
        { match: [{ uri: { prefix: '/api' }, headers: { 'x-env': { exact: 'prod' } } }], delegate: { name: 'api', namespace: 'team' } },
        { match: [{ uri: { prefix: '/missing' } }], delegate: { name: 'nope' } },
        { route: [{ destination: { host: 'reviews' } }] },
      ],
    }),
    config('VirtualService', 'team', 'api', {
      http: [
        { match: [{ uri: { prefix: '/api/v2' } }], route: [{ destination: { host: 'reviews.prod.svc.cluster.local', subset: 'v2' } }] },
        { match: [{ uri: { prefix: '/other' } }], route: [{ destination: { host: 'reviews.prod.svc.cluster.local' } }] },
        { match: [{ headers: { 'x-env': { exact: 'dev' } } }], route: [{ destination: { host: 'reviews.prod.svc.cluster.local' } }] },
        { route: [{ destination: { host: 'reviews.prod.svc.cluster.local', subset: 'v1' } }] },
      ],
    }),
  ]);
  const routes = outboundRouteConfigurations(mesh, sidecar('prod'), PASSTHROUGH_CLUSTER)
    .find((r) => r.name === '9080')
    ?.virtual_hosts?.find((v) => v.name === `${REVIEWS}:9080`)?.routes ?? [];

  test('delegated routes take the root match; contradicting ones and missing delegates give nothing', () => {
    expect(routes.map((r) => [r.match?.prefix, r.match?.headers?.map((h) => h.string_match?.exact), r.route?.cluster])).toEqual([
      ['/api/v2', ['prod'], `outbound|9080|v2|${REVIEWS}`],
      ['/api', ['prod'], `outbound|9080|v1|${REVIEWS}`],
      ['/', undefined, `outbound|9080||${REVIEWS}`],
    ]);
  });
});

test('retries try other hosts (previous_hosts predicate) unless retryIgnorePreviousHosts is false', () => {
  expect(retryPolicy(undefined)?.retry_host_predicate?.map((p) => p.name)).toEqual(['envoy.retry_host_predicates.previous_hosts']);
  expect(retryPolicy({ attempts: 2, retryIgnorePreviousHosts: false })?.retry_host_predicate).toBeUndefined();
});
