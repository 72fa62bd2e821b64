// Sidecar clusters: one per service port and DestinationRule subset (EDS over ADS), the special
// clusters, inbound clusters for the proxy's own ports, and DestinationRule traffic policy.
import type { DestinationRuleSpec } from '../../src/api/destination-rule.js';
import type { ServiceEntrySpec } from '../../src/api/service-entry.js';
import { connectionPoolFields, loadBalancerFields, outlierDetectionFields, tlsFields } from '../../src/translate/cluster-settings.js';
import { sidecarClusters } from '../../src/translate/clusters.js';
import { buildMesh, config, decoded, sidecar } from '../support/mesh-fixtures.js';
import type { Cluster } from '../../src/xds/types.js';

const REVIEWS = 'reviews.prod.svc.cluster.local';

function clusters(drSpec?: Partial<DestinationRuleSpec>, extra: ReturnType<typeof config>[] = []): Map<string, Cluster> {
  const mesh = buildMesh(
    [
      { namespace: 'prod', name: 'reviews', clusterIP: '10.96.0.1', ports: [{ name: 'http', port: 9080 }, { name: 'grpc', port: 9090 }] },
      { namespace: 'prod', name: 'db', clusterIP: 'None', ports: [{ name: 'tcp', port: 5432 }] },
      { namespace: 'prod', name: 'web', clusterIP: '10.96.0.2', ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'metrics', port: 9100, targetPort: 'metrics' as unknown as number }], selector: { app: 'web' }, endpoints: [{ address: '10.1.0.7', ports: { http: 8080, metrics: 9101 } }] },
    ],
    [...(drSpec ? [config('DestinationRule', 'prod', 'reviews', { host: 'reviews', ...drSpec })] : []), ...extra],
  );
  return new Map(sidecarClusters(mesh, sidecar('prod', { app: 'web' }, '10.1.0.7')).map((c) => [c.name ?? '', c]));
}

test('one EDS cluster per service port, over ADS, with Istio defaults', () => {
  const c = clusters();
  const http = c.get(`outbound|9080||${REVIEWS}`);
  expect(http).toMatchObject({
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: `outbound|9080||${REVIEWS}` },
    lb_policy: 'LEAST_REQUEST',
    connect_timeout: { seconds: 10, nanos: 0 },
  });
  expect(http?.circuit_breakers?.thresholds?.[0]).toMatchObject({ max_connections: { value: 4294967295 }, max_requests: { value: 4294967295 } });
  expect(http?.typed_extension_protocol_options).toBeUndefined();
  // gRPC upstreams speak HTTP/2.
  const grpc = c.get(`outbound|9090||${REVIEWS}`);
  const opts = decoded(grpc?.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'] ?? {});
  expect(opts).toMatchObject({ explicit_http_config: { http2_protocol_options: {} } });
});

test('the special clusters: passthrough, blackhole, inbound passthrough', () => {
  const c = clusters();
  expect(c.get('PassthroughCluster')).toMatchObject({ type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' });
  expect(c.get('BlackHoleCluster')).toMatchObject({ type: 'STATIC' });
  expect(c.get('BlackHoleCluster')?.load_assignment).toBeUndefined();
  expect(c.get('InboundPassthroughCluster')).toMatchObject({ type: 'ORIGINAL_DST', upstream_bind_config: { source_address: { address: '127.0.0.6' } } });
});

test('a headless service is an original-destination cluster', () => {
  expect(clusters().get('outbound|5432||db.prod.svc.cluster.local')).toMatchObject({ type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' });
});

test('inbound clusters: the workload ports (numeric or named targetPort) on 127.0.0.1, bound to 127.0.0.6', () => {
  const c = clusters();
  expect(c.get('inbound|8080||')).toMatchObject({
    type: 'STATIC',
    upstream_bind_config: { source_address: { address: '127.0.0.6', port_value: 0 } },
    load_assignment: { cluster_name: 'inbound|8080||', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8080 } } } }] }] },
  });
  expect(c.has('inbound|9101||')).toBe(true);
  // Services that do not select the proxy give no inbound cluster.
  expect(c.has('inbound|9080||')).toBe(false);
});

test('a DestinationRule subset gets its own cluster per port, with the subset policy', () => {
  const c = clusters({
    trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } },
    subsets: [
      { name: 'v1', labels: { version: 'v1' } },
      { name: 'v2', labels: { version: 'v2' }, trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } },
    ],
  });
  expect(c.get(`outbound|9080||${REVIEWS}`)?.lb_policy).toBe('ROUND_ROBIN');
  expect(c.get(`outbound|9080|v1|${REVIEWS}`)).toMatchObject({ type: 'EDS', lb_policy: 'ROUND_ROBIN', eds_cluster_config: { service_name: `outbound|9080|v1|${REVIEWS}` } });
  expect(c.get(`outbound|9090|v2|${REVIEWS}`)?.lb_policy).toBe('RANDOM');
});

test('a DestinationRule of another namespace not exported to the client does not apply', () => {
  const c = clusters(undefined, [config('DestinationRule', 'elsewhere', 'r', { host: REVIEWS, exportTo: ['.'], subsets: [{ name: 'x', labels: { a: 'b' } }] })]);
  expect(c.has(`outbound|9080|x|${REVIEWS}`)).toBe(false);
});

test('ServiceEntries: DNS resolution is STRICT_DNS with the host as endpoint, NONE passes through', () => {
  const dns: ServiceEntrySpec = { hosts: ['api.example.com'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], resolution: 'DNS', location: 'MESH_EXTERNAL' };
  const none: ServiceEntrySpec = { hosts: ['legacy.example.com'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'NONE' };
  const c = clusters(undefined, [config('ServiceEntry', 'prod', 'api', dns), config('ServiceEntry', 'prod', 'legacy', none)]);
  expect(c.get('outbound|443||api.example.com')).toMatchObject({
    type: 'STRICT_DNS',
    load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'api.example.com', port_value: 443 } } } }] }] },
  });
  expect(c.get('outbound|80||legacy.example.com')).toMatchObject({ type: 'ORIGINAL_DST' });
});

test.each([
  [undefined, { lb_policy: 'LEAST_REQUEST' }],
  [{ simple: 'LEAST_CONN' as const }, { lb_policy: 'LEAST_REQUEST' }],
  [{ simple: 'LEAST_REQUEST' as const }, { lb_policy: 'LEAST_REQUEST' }],
  [{ simple: 'ROUND_ROBIN' as const }, { lb_policy: 'ROUND_ROBIN' }],
  [{ simple: 'RANDOM' as const }, { lb_policy: 'RANDOM' }],
  [{ consistentHash: { httpHeaderName: 'x-user' } }, { lb_policy: 'RING_HASH' }],
  [{ consistentHash: { httpHeaderName: 'x-user', ringHash: { minimumRingSize: 2048 } } }, { lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: { value: 2048 } } }],
  [{ consistentHash: { useSourceIp: true, maglev: { tableSize: 65537 } } }, { lb_policy: 'MAGLEV', maglev_lb_config: { table_size: { value: 65537 } } }],
])('load balancer %j', (lb, want) => expect(loadBalancerFields(lb)).toEqual(want));

test('PASSTHROUGH load balancing makes the cluster original-destination', () => {
  expect(clusters({ trafficPolicy: { loadBalancer: { simple: 'PASSTHROUGH' } } }).get(`outbound|9080||${REVIEWS}`)).toMatchObject({ type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' });
});

test('connection pool: circuit breakers, connect timeout, keepalive, HTTP options', () => {
  const f = connectionPoolFields(
    {
      tcp: { maxConnections: 10, connectTimeout: '250ms', tcpKeepalive: { probes: 3, time: '60s', interval: '10s' }, maxConnectionDuration: '1h' },
      http: { http1MaxPendingRequests: 5, http2MaxRequests: 50, maxRetries: 2, maxRequestsPerConnection: 1, idleTimeout: '30s' },
    },
    false,
  );
  expect(f.connect_timeout).toEqual({ seconds: 0, nanos: 250_000_000 });
  expect(f.circuit_breakers?.thresholds?.[0]).toMatchObject({ max_connections: { value: 10 }, max_pending_requests: { value: 5 }, max_requests: { value: 50 }, max_retries: { value: 2 } });
  expect(f.upstream_connection_options).toEqual({ tcp_keepalive: { keepalive_probes: { value: 3 }, keepalive_time: { value: 60 }, keepalive_interval: { value: 10 } } });
  const opts = decoded(f.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'] ?? {});
  expect(opts).toMatchObject({ common_http_protocol_options: { idle_timeout: { seconds: '30' }, max_requests_per_connection: { value: 1 }, max_connection_duration: { seconds: '3600' } } });
  expect(connectionPoolFields({ http: { h2UpgradePolicy: 'UPGRADE' } }, false).typed_extension_protocol_options).toBeDefined();
});

test('outlier detection: consecutive 5xx and gateway errors enforced, minHealthPercent is the panic threshold', () => {
  const f = outlierDetectionFields({ consecutive5xxErrors: 5, consecutiveGatewayErrors: 2, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 100, minHealthPercent: 20 });
  expect(f.outlier_detection).toEqual({
    consecutive_5xx: { value: 5 },
    enforcing_consecutive_5xx: { value: 100 },
    consecutive_gateway_failure: { value: 2 },
    enforcing_consecutive_gateway_failure: { value: 100 },
    interval: { seconds: 10, nanos: 0 },
    base_ejection_time: { seconds: 30, nanos: 0 },
    max_ejection_percent: { value: 100 },
  });
  expect(f.common_lb_config).toEqual({ healthy_panic_threshold: { value: 20 } });
  expect(outlierDetectionFields({ consecutive5xxErrors: 0 }).outlier_detection).toMatchObject({ enforcing_consecutive_5xx: { value: 0 } });
  expect(outlierDetectionFields(undefined)).toEqual({});
});

test('TLS origination from files: SIMPLE verifies the server, MUTUAL also presents a client certificate', () => {
  expect(tlsFields(undefined, 'a')).toEqual({});
  expect(tlsFields({ mode: 'DISABLE' }, 'a')).toEqual({});
  const simple = tlsFields({ mode: 'SIMPLE', caCertificates: '/etc/ca.pem', subjectAltNames: ['api.example.com'] }, 'api.example.com');
  expect(simple.transport_socket?.name).toBe('envoy.transport_sockets.tls');
  expect(decoded(simple.transport_socket?.typed_config ?? {})).toMatchObject({
    sni: 'api.example.com',
    common_tls_context: { validation_context: { trusted_ca: { filename: '/etc/ca.pem' }, match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'api.example.com' } }] } },
  });
  const mutual = tlsFields({ mode: 'MUTUAL', clientCertificate: '/c.pem', privateKey: '/k.pem', caCertificates: '/ca.pem', sni: 'x.test' }, 'api.example.com');
  expect(decoded(mutual.transport_socket?.typed_config ?? {})).toMatchObject({
    sni: 'x.test',
    common_tls_context: { tls_certificates: [{ certificate_chain: { filename: '/c.pem' }, private_key: { filename: '/k.pem' } }] },
  });
});
