// The network and HTTP filters the sidecar listeners use: tcp_proxy, the HTTP connection
// manager (routes over RDS or inline) with Istio's HTTP filter order (CORS, fault, router); both
// carry the listener side's access logs (access-log.ts).
import type { Filter } from '../xds/generated/envoy/config/listener/v3/Filter.js';
import type { ListenerFilter } from '../xds/generated/envoy/config/listener/v3/ListenerFilter.js';
import type { HttpConnectionManager } from '../xds/generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager.js';
import type { HttpFilter } from '../xds/generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpFilter.js';
import type { TcpProxy } from '../xds/generated/envoy/extensions/filters/network/tcp_proxy/v3/TcpProxy.js';
import type { RouteConfiguration } from '../xds/types.js';
import { packAny } from '../xds/protos.js';
import { NO_ACCESS_LOGS, type ListenerAccessLogs } from './access-log.js';
import { ADS_CONFIG_SOURCE } from './config-source.js';

export const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const TCP_PROXY_TYPE = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const ROUTER_TYPE = 'envoy.extensions.filters.http.router.v3.Router';
export const FAULT_TYPE = 'envoy.extensions.filters.http.fault.v3.HTTPFault';
export const CORS_TYPE = 'envoy.extensions.filters.http.cors.v3.Cors';
export const CORS_POLICY_TYPE = 'envoy.extensions.filters.http.cors.v3.CorsPolicy';
export const ORIGINAL_DST_TYPE = 'envoy.extensions.filters.listener.original_dst.v3.OriginalDst';
export const TLS_INSPECTOR_TYPE = 'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';

export const FAULT_FILTER = 'envoy.filters.http.fault';
export const CORS_FILTER = 'envoy.filters.http.cors';
export const ROUTER_FILTER = 'envoy.filters.http.router';

/** A tcp_proxy to one cluster, or a weighted set of clusters. */
export function tcpProxyFilter(statPrefix: string, target: string | ReadonlyArray<{ name: string; weight: number }>, accessLog: ListenerAccessLogs = NO_ACCESS_LOGS): Filter {
  const proxy: TcpProxy = {
    ...(typeof target === 'string' ? { stat_prefix: statPrefix, cluster: target } : { stat_prefix: statPrefix, weighted_clusters: { clusters: target.map((c) => ({ name: c.name, weight: c.weight })) } }),
    ...(accessLog.length > 0 ? { access_log: [...accessLog] } : {}),
  };
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: packAny(TCP_PROXY_TYPE, proxy) };
}

export function sidecarHttpFilters(): HttpFilter[] {
  return [
    { name: CORS_FILTER, typed_config: packAny(CORS_TYPE, {}) },
    { name: FAULT_FILTER, typed_config: packAny(FAULT_TYPE, {}) },
    { name: ROUTER_FILTER, typed_config: packAny(ROUTER_TYPE, {}) },
  ];
}

/** An HTTP connection manager whose routes come over RDS (a name) or inline (a RouteConfiguration). */
export function httpConnectionManagerFilter(
  statPrefix: string,
  routes: string | RouteConfiguration,
  direction: 'outbound' | 'inbound',
  /** Run before the others: authentication and authorization (workload-security.ts). */
  securityFilters: readonly HttpFilter[] = [],
  accessLog: ListenerAccessLogs = NO_ACCESS_LOGS,
): Filter {
  const hcm: HttpConnectionManager = {
    stat_prefix: statPrefix,
    ...(typeof routes === 'string' ? { rds: { route_config_name: routes, config_source: ADS_CONFIG_SOURCE } } : { route_config: routes }),
    http_filters: [...securityFilters, ...sidecarHttpFilters()],
    ...(accessLog.length > 0 ? { access_log: [...accessLog] } : {}),
    // Inbound: the caller is the remote peer; outbound: the app, whose own address is not a client's.
    use_remote_address: { value: false },
    // Inbound: the verified client certificate of an mTLS peer is added for the app (Envoy
    // strips the header of a connection without one, so a plaintext caller cannot forge it).
    ...(direction === 'inbound' ? { forward_client_cert_details: 'APPEND_FORWARD' as const, set_current_client_cert_details: { subject: { value: true }, uri: true, dns: true } } : {}),
  };
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: packAny(HCM_TYPE, hcm) };
}

export function originalDstListenerFilter(): ListenerFilter {
  return { name: 'envoy.filters.listener.original_dst', typed_config: packAny(ORIGINAL_DST_TYPE, {}) };
}

/** Reads the SNI of a TLS ClientHello, for filter chains matched by server name. */
export function tlsInspectorListenerFilter(): ListenerFilter {
  return { name: 'envoy.filters.listener.tls_inspector', typed_config: packAny(TLS_INSPECTOR_TYPE, {}) };
}
