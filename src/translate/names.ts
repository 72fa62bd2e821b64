// Istio's names for the Envoy resources of a sidecar, so dashboards, `istioctl proxy-config`
// habits and stats keep working.

export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughCluster';
export const VIRTUAL_OUTBOUND_LISTENER = 'virtualOutbound';
export const VIRTUAL_INBOUND_LISTENER = 'virtualInbound';

/** Istio's sidecar capture ports. */
export const OUTBOUND_CAPTURE_PORT = 15001;
export const INBOUND_CAPTURE_PORT = 15006;

/** The source address inbound clusters bind to: iptables lets 127.0.0.6 → lo through uncaptured. */
export const INBOUND_BIND_ADDRESS = '127.0.0.6';

/** `outbound|<port>|<subset>|<host>` (subset empty for the whole service). */
export function outboundClusterName(port: number, host: string, subset = ''): string {
  return `outbound|${port}|${subset}|${host}`;
}

/** `inbound|<port>||` for the workload's (container) port. */
export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

/** The outbound listener of a service port: `0.0.0.0_<port>`. */
export function outboundListenerName(port: number): string {
  return `0.0.0.0_${port}`;
}

/** The RDS route configuration of an outbound HTTP port: the port number. */
export function outboundRouteName(port: number): string {
  return String(port);
}
