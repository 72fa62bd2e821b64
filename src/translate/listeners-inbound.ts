// The inbound listener, as Istio's sidecar: `virtualInbound` on 0.0.0.0:15006 receives what
// iptables redirects to the pod, recovers the original destination (listener filter
// original_dst) and picks a filter chain by destination port: one per workload port, to
// `inbound|<port>||` (HTTP through an HTTP connection manager with an inline route, TCP through
// tcp_proxy); any other port passes through to the original destination.
import type { FilterChain } from '../xds/generated/envoy/config/listener/v3/FilterChain.js';
import type { Listener, RouteConfiguration } from '../xds/types.js';
import { httpConnectionManagerFilter, originalDstListenerFilter, tcpProxyFilter } from './filters.js';
import type { InboundPort } from './inbound-ports.js';
import { inboundClusterName, INBOUND_PASSTHROUGH_CLUSTER, VIRTUAL_INBOUND_LISTENER } from './names.js';
import { listenerProtocol } from './protocol.js';

/** The inline routes of an inbound HTTP port: everything to the app, no timeout (Istio's default). */
export function inboundRouteConfiguration(p: InboundPort): RouteConfiguration {
  const cluster = inboundClusterName(p.port);
  return {
    name: cluster,
    validate_clusters: { value: false },
    virtual_hosts: [
      {
        name: `inbound|http|${p.port}`,
        domains: ['*'],
        routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster, timeout: { seconds: 0, nanos: 0 }, max_grpc_timeout: { seconds: 0, nanos: 0 } } }],
      },
    ],
  };
}

export function inboundFilterChain(p: InboundPort): FilterChain {
  const cluster = inboundClusterName(p.port);
  const http = listenerProtocol(p.protocol) === 'http';
  return {
    name: cluster,
    filter_chain_match: { destination_port: { value: p.port } },
    filters: [http ? httpConnectionManagerFilter(cluster, inboundRouteConfiguration(p), 'inbound') : tcpProxyFilter(cluster, cluster)],
  };
}

export function virtualInboundListener(ports: readonly InboundPort[], inboundPort: number): Listener {
  return {
    name: VIRTUAL_INBOUND_LISTENER,
    address: { socket_address: { address: '0.0.0.0', port_value: inboundPort } },
    traffic_direction: 'INBOUND',
    listener_filters: [originalDstListenerFilter()],
    filter_chains: ports.filter((p) => p.port !== inboundPort).map(inboundFilterChain),
    default_filter_chain: { name: 'InboundPassthroughFilterChain', filters: [tcpProxyFilter(INBOUND_PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER)] },
  };
}
