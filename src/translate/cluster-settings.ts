// DestinationRule traffic policy → the fields of an Envoy cluster: load balancer, connection
// pool (circuit breakers, timeouts, keepalive, HTTP protocol options), outlier detection and
// TLS origination from files. Istio's defaults where the user sets nothing: LEAST_REQUEST,
// connect timeout 10s, circuit breakers wide open.
import type { ClientTLSSettings, ConnectionPoolSettings, LoadBalancerSettings, OutlierDetection } from '../api/destination-rule.js';
import type { Cluster } from '../xds/types.js';
import type { HttpProtocolOptions } from '../xds/generated/envoy/extensions/upstreams/http/v3/HttpProtocolOptions.js';
import { ADS_CONFIG_SOURCE } from './config-source.js';
import type { UpstreamTlsContext } from '../xds/generated/envoy/extensions/transport_sockets/tls/v3/UpstreamTlsContext.js';
import { packAny } from '../xds/protos.js';
import { duration } from './duration.js';
import type { ClusterPolicy } from './traffic-policy.js';

export const DEFAULT_CONNECT_TIMEOUT = { seconds: 10, nanos: 0 };
const MAX_U32 = 4294967295;
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const UPSTREAM_TLS = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

type Fields = Partial<Cluster>;

/** lb_policy (and ring hash / maglev settings); PASSTHROUGH is handled by the caller (ORIGINAL_DST). */
export function loadBalancerFields(lb: LoadBalancerSettings | undefined): Fields {
  const ch = lb?.consistentHash;
  if (ch) {
    if (ch.maglev) return { lb_policy: 'MAGLEV', ...(ch.maglev.tableSize ? { maglev_lb_config: { table_size: { value: ch.maglev.tableSize } } } : {}) };
    const min = ch.ringHash?.minimumRingSize ?? ch.minimumRingSize;
    return { lb_policy: 'RING_HASH', ...(min ? { ring_hash_lb_config: { minimum_ring_size: { value: min } } } : {}) };
  }
  switch (lb?.simple) {
    case 'ROUND_ROBIN':
      return { lb_policy: 'ROUND_ROBIN' };
    case 'RANDOM':
      return { lb_policy: 'RANDOM' };
    default:
      return { lb_policy: 'LEAST_REQUEST' };
  }
}

export function isPassthroughLb(lb: LoadBalancerSettings | undefined): boolean {
  return lb?.simple === 'PASSTHROUGH';
}

/** Circuit breakers, connect timeout, keepalive and (for HTTP) protocol options. */
export function connectionPoolFields(pool: ConnectionPoolSettings | undefined, http2: boolean): Fields {
  const tcp = pool?.tcp;
  const http = pool?.http;
  const out: Fields = {
    connect_timeout: duration(tcp?.connectTimeout) ?? DEFAULT_CONNECT_TIMEOUT,
    circuit_breakers: {
      thresholds: [
        {
          max_connections: { value: tcp?.maxConnections ?? MAX_U32 },
          max_pending_requests: { value: http?.http1MaxPendingRequests ?? MAX_U32 },
          max_requests: { value: http?.http2MaxRequests ?? MAX_U32 },
          max_retries: { value: http?.maxRetries ?? MAX_U32 },
          track_remaining: true,
        },
      ],
    },
  };
  const ka = tcp?.tcpKeepalive;
  if (ka) {
    const secs = (t: string | undefined): { value: number } | undefined => {
      const d = duration(t);
      return d ? { value: Math.max(1, Math.round(Number(d.seconds))) } : undefined;
    };
    out.upstream_connection_options = {
      tcp_keepalive: { ...(ka.probes ? { keepalive_probes: { value: ka.probes } } : {}), ...(secs(ka.time) ? { keepalive_time: secs(ka.time) } : {}), ...(secs(ka.interval) ? { keepalive_interval: secs(ka.interval) } : {}) },
    };
  }
  const common: NonNullable<HttpProtocolOptions['common_http_protocol_options']> = {};
  if (duration(http?.idleTimeout)) common.idle_timeout = duration(http?.idleTimeout);
  if (http?.maxRequestsPerConnection) common.max_requests_per_connection = { value: http.maxRequestsPerConnection };
  if (duration(tcp?.maxConnectionDuration)) common.max_connection_duration = duration(tcp?.maxConnectionDuration);
  const h2 = http2 || http?.h2UpgradePolicy === 'UPGRADE';
  if (h2 || Object.keys(common).length > 0) {
    const opts: HttpProtocolOptions = {
      ...(Object.keys(common).length > 0 ? { common_http_protocol_options: common } : {}),
      explicit_http_config: h2 ? { http2_protocol_options: http?.maxConcurrentStreams ? { max_concurrent_streams: { value: http.maxConcurrentStreams } } : {} } : { http_protocol_options: {} },
    };
    out.typed_extension_protocol_options = { [HTTP_OPTIONS]: packAny(HTTP_OPTIONS, opts) };
  }
  return out;
}

export function outlierDetectionFields(od: OutlierDetection | undefined): Fields {
  if (!od) return {};
  const n5xx = od.consecutive5xxErrors ?? od.consecutiveErrors;
  const out: NonNullable<Cluster['outlier_detection']> = {
    ...(duration(od.interval) ? { interval: duration(od.interval) } : {}),
    ...(duration(od.baseEjectionTime) ? { base_ejection_time: duration(od.baseEjectionTime) } : {}),
    ...(od.maxEjectionPercent !== undefined ? { max_ejection_percent: { value: od.maxEjectionPercent } } : {}),
  };
  if (n5xx !== undefined && n5xx !== null) {
    out.consecutive_5xx = { value: n5xx };
    out.enforcing_consecutive_5xx = { value: n5xx > 0 ? 100 : 0 };
  } else {
    out.enforcing_consecutive_5xx = { value: 0 };
  }
  if (od.consecutiveGatewayErrors !== undefined && od.consecutiveGatewayErrors !== null) {
    out.consecutive_gateway_failure = { value: od.consecutiveGatewayErrors };
    out.enforcing_consecutive_gateway_failure = { value: od.consecutiveGatewayErrors > 0 ? 100 : 0 };
  }
  if (od.splitExternalLocalOriginErrors) {
    out.split_external_local_origin_errors = true;
    if (od.consecutiveLocalOriginFailures) {
      out.consecutive_local_origin_failure = { value: od.consecutiveLocalOriginFailures };
      out.enforcing_consecutive_local_origin_failure = { value: 100 };
    }
  }
  // Istio: minHealthPercent is the panic threshold (0, the default, disables panic mode).
  return { outlier_detection: out, common_lb_config: { healthy_panic_threshold: { value: od.minHealthPercent ?? 0 } } };
}

/**
 * TLS origination with certificates from files, or from the Secret named by credentialName over
 * SDS (`kubernetes://<name>`, and `kubernetes://<name>-cacert` for the CA that verifies the
 * server) (DISABLE and unset: plaintext). ISTIO_MUTUAL needs the mesh CA, which Trellis does not
 * have yet: plaintext for now.
 */
export function tlsFields(tls: ClientTLSSettings | undefined, host: string): Fields {
  if (!tls || (tls.mode !== 'SIMPLE' && tls.mode !== 'MUTUAL')) return {};
  if (tls.credentialName) return credentialTlsFields(tls, host);
  const sans = tls.subjectAltNames ?? [];
  const ctx: UpstreamTlsContext = {
    sni: tls.sni ?? (host.startsWith('*') ? undefined : host),
    common_tls_context: {
      ...(tls.mode === 'MUTUAL' && tls.clientCertificate && tls.privateKey
        ? { tls_certificates: [{ certificate_chain: { filename: tls.clientCertificate }, private_key: { filename: tls.privateKey } }] }
        : {}),
      ...(tls.insecureSkipVerify || !tls.caCertificates
        ? {}
        : {
            validation_context: {
              trusted_ca: { filename: tls.caCertificates },
              ...(tls.caCrl ? { crl: { filename: tls.caCrl } } : {}),
              ...(sans.length > 0 ? { match_typed_subject_alt_names: sans.map((s) => ({ san_type: 'DNS' as const, matcher: { exact: s } })) } : {}),
            },
          }),
    },
  };
  if (ctx.sni === undefined) delete ctx.sni;
  return { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: packAny(UPSTREAM_TLS, ctx) } };
}

function credentialTlsFields(tls: ClientTLSSettings, host: string): Fields {
  const name = tls.credentialName ?? '';
  const sans = tls.subjectAltNames ?? [];
  const ctx: UpstreamTlsContext = {
    sni: tls.sni ?? (host.startsWith('*') ? undefined : host),
    common_tls_context: {
      ...(tls.mode === 'MUTUAL' ? { tls_certificate_sds_secret_configs: [{ name: `kubernetes://${name}`, sds_config: ADS_CONFIG_SOURCE }] } : {}),
      ...(tls.insecureSkipVerify
        ? {}
        : {
            combined_validation_context: {
              default_validation_context: sans.length > 0 ? { match_typed_subject_alt_names: sans.map((s) => ({ san_type: 'DNS' as const, matcher: { exact: s } })) } : {},
              validation_context_sds_secret_config: { name: `kubernetes://${name}-cacert`, sds_config: ADS_CONFIG_SOURCE },
            },
          }),
    },
  };
  if (ctx.sni === undefined) delete ctx.sni;
  return { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: packAny(UPSTREAM_TLS, ctx) } };
}

/** Every field the policy sets on an outbound cluster. */
export function policyFields(policy: ClusterPolicy, host: string, http2: boolean): Fields {
  return {
    ...loadBalancerFields(policy.loadBalancer),
    ...connectionPoolFields(policy.connectionPool, http2),
    ...outlierDetectionFields(policy.outlierDetection),
    ...tlsFields(policy.tls, host),
  };
}
