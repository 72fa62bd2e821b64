// The inbound listener, as Istio's sidecar: `virtualInbound` on 0.0.0.0:15006 receives what
// iptables redirects to the pod, recovers the original destination (listener filter
// original_dst) and picks a filter chain by destination port: one per workload port, to
// `inbound|<port>||` (HTTP through an HTTP connection manager, TCP through
// tcp_proxy); any other port passes through to the original destination. An HTTP port's routes
// come over RDS (inboundRouteConfiguration), so its authorization can change without a listener
// update.
//
// Each port's chains follow its PeerAuthentication mode (mtls.ts): mTLS from a client sidecar
// (TLS with Istio's ALPN) is terminated and the client's identity forwarded to the app in
// x-forwarded-client-cert; unless STRICT, plaintext, and TLS the app terminates itself, pass
// too; under STRICT anything else on the port is refused, and the pass-through of undeclared
// ports takes mTLS only.
//
// The workload's authorization (and, on HTTP ports, JWT authentication) runs on every chain that
// forwards to the app or passes through: HTTP filters before routing, network filters before
// tcp_proxy (workload-security.ts).
//
// A Sidecar ingress listener with captureMode NONE is served by a listener of its own, bound to
// its address and port (`<bind>_<port>`), for traffic iptables does not capture (the port
// excluded from capture, or a pod without it): the same chains, mTLS mode and authorization as
// in virtualInbound, which then has no chain for the port (Istio's inboundCustomListener).
import type { FilterChain } from '../xds/generated/envoy/config/listener/v3/FilterChain.js';
import type { Filter } from '../xds/generated/envoy/config/listener/v3/Filter.js';
import type { Listener, RouteConfiguration } from '../xds/types.js';
import { NO_ACCESS_LOGS, type ListenerAccessLogs } from './access-log.js';
import { httpConnectionManagerFilter, originalDstListenerFilter, tcpProxyFilter, tlsInspectorListenerFilter } from './filters.js';
import type { InboundPort } from './inbound-ports.js';
import type { EffectiveMtls, EffectiveMtlsMode as MtlsMode } from '../model/peer-authentication.js';
import { MESH_ALPN, meshServerSocket } from './mtls.js';
import { BLACKHOLE_CLUSTER, inboundClusterName, INBOUND_PASSTHROUGH_CLUSTER, VIRTUAL_INBOUND_LISTENER } from './names.js';
import { listenerProtocol } from '../model/protocol.js';
import { NO_SECURITY, type WorkloadSecurity } from './workload-security.js';

/** The mTLS modes of a workload (PeerAuthentication resolved) and the mesh's trust domain and its aliases. */
export interface InboundMtls extends EffectiveMtls {
  readonly trustDomains: readonly string[];
}

export const PERMISSIVE_MTLS: InboundMtls = { mode: 'PERMISSIVE', ports: new Map(), trustDomains: ['cluster.local'] };

/**
 * The routes of an inbound HTTP port (over RDS, named like its cluster): everything to the app,
 * no timeout (Istio's default), with the workload's authorization rules per route.
 */
export function inboundRouteConfiguration(p: InboundPort, security: WorkloadSecurity = NO_SECURITY): RouteConfiguration {
  const cluster = inboundClusterName(p.port);
  const perRoute = Object.keys(security.inboundPerRoute).length > 0 ? { typed_per_filter_config: { ...security.inboundPerRoute } } : {};
  return {
    name: cluster,
    validate_clusters: { value: false },
    virtual_hosts: [
      {
        name: `inbound|http|${p.port}`,
        domains: ['*'],
        ...perRoute,
        routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster, timeout: { seconds: 0, nanos: 0 }, max_grpc_timeout: { seconds: 0, nanos: 0 } } }],
      },
    ],
  };
}

/** The workload ports served through an HTTP connection manager (each has inbound routes). */
export function inboundHttpPorts(ports: readonly InboundPort[], inboundPort: number): InboundPort[] {
  return ports.filter((p) => p.port !== inboundPort && listenerProtocol(p.protocol) === 'http');
}

function portFilters(p: InboundPort, security: WorkloadSecurity, logs: ListenerAccessLogs): Filter[] {
  const cluster = inboundClusterName(p.port);
  return listenerProtocol(p.protocol) === 'http'
    ? [httpConnectionManagerFilter(cluster, cluster, 'inbound', security.inboundHttp, logs)]
    : [...security.tcp, tcpProxyFilter(cluster, cluster, logs)];
}

/** The filter chains of one workload port under its mTLS mode. */
export function inboundFilterChains(
  p: InboundPort,
  mode: MtlsMode,
  trustDomains: readonly string[],
  security: WorkloadSecurity = NO_SECURITY,
  logs: ListenerAccessLogs = NO_ACCESS_LOGS,
): FilterChain[] {
  const cluster = inboundClusterName(p.port);
  const port = { value: p.port };
  const chains: FilterChain[] = [];
  if (mode !== 'DISABLE') {
    chains.push({
      name: `${cluster}-mtls`,
      filter_chain_match: { destination_port: port, transport_protocol: 'tls', application_protocols: MESH_ALPN },
      transport_socket: meshServerSocket(trustDomains),
      filters: portFilters(p, security, logs),
    });
  }
  if (mode === 'STRICT') {
    chains.push({ name: `${cluster}-refused`, filter_chain_match: { destination_port: port }, filters: [tcpProxyFilter(`${cluster}-refused`, BLACKHOLE_CLUSTER, logs)] });
    return chains;
  }
  chains.push({ name: cluster, filter_chain_match: { destination_port: port, transport_protocol: 'raw_buffer' }, filters: portFilters(p, security, logs) });
  // TLS that is not the mesh's: the app terminates it.
  chains.push({ name: `${cluster}-tls`, filter_chain_match: { destination_port: port, transport_protocol: 'tls' }, filters: [...security.tcp, tcpProxyFilter(cluster, cluster, logs)] });
  return chains;
}

export function virtualInboundListener(
  ports: readonly InboundPort[],
  inboundPort: number,
  mtls: InboundMtls = PERMISSIVE_MTLS,
  security: WorkloadSecurity = NO_SECURITY,
  logs: ListenerAccessLogs = NO_ACCESS_LOGS,
): Listener {
  const chains = ports.filter((p) => p.port !== inboundPort && p.bind === undefined).flatMap((p) => inboundFilterChains(p, mtls.ports.get(p.port) ?? mtls.mode, mtls.trustDomains, security, logs));
  const passthrough = [...security.tcp, tcpProxyFilter(INBOUND_PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER, logs)];
  const strict = mtls.mode === 'STRICT';
  if (strict) {
    chains.push({
      name: 'InboundPassthroughFilterChain-mtls',
      filter_chain_match: { transport_protocol: 'tls', application_protocols: MESH_ALPN },
      transport_socket: meshServerSocket(mtls.trustDomains),
      filters: passthrough,
    });
  }
  return {
    name: VIRTUAL_INBOUND_LISTENER,
    address: { socket_address: { address: '0.0.0.0', port_value: inboundPort } },
    traffic_direction: 'INBOUND',
    // tls_inspector reads the ClientHello (TLS or not, and the ALPN) to pick the chain; a
    // server-first protocol sends nothing, so after the timeout the connection goes on as plaintext.
    listener_filters: [originalDstListenerFilter(), tlsInspectorListenerFilter()],
    listener_filters_timeout: { seconds: 5, nanos: 0 },
    continue_on_listener_filters_timeout: true,
    filter_chains: chains,
    default_filter_chain: strict
      ? { name: 'InboundPassthroughFilterChain-refused', filters: [tcpProxyFilter('InboundPassthroughFilterChain-refused', BLACKHOLE_CLUSTER, logs)] }
      : { name: 'InboundPassthroughFilterChain', filters: passthrough },
  };
}

/** The listeners of the ports a Sidecar ingress listener binds (captureMode NONE). */
export function boundInboundListeners(
  ports: readonly InboundPort[],
  mtls: InboundMtls = PERMISSIVE_MTLS,
  security: WorkloadSecurity = NO_SECURITY,
  logs: ListenerAccessLogs = NO_ACCESS_LOGS,
): Listener[] {
  return ports.flatMap((p) =>
    p.bind === undefined
      ? []
      : [
          {
            name: `${p.bind}_${p.port}`,
            address: { socket_address: { address: p.bind, port_value: p.port } },
            traffic_direction: 'INBOUND',
            // Bound, the connection's own address is its destination: no original_dst.
            listener_filters: [tlsInspectorListenerFilter()],
            listener_filters_timeout: { seconds: 5, nanos: 0 },
            continue_on_listener_filters_timeout: true,
            filter_chains: inboundFilterChains(p, mtls.ports.get(p.port) ?? mtls.mode, mtls.trustDomains, security, logs),
          },
        ],
  );
}
