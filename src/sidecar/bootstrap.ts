// The Envoy bootstrap a sidecar (or gateway) starts with: who it is (Istio's node id and
// metadata, so Trellis can tell which pod it serves), where the control plane is (ADS over
// gRPC), its admin on loopback, Prometheus stats on 15090 (tagged for dashboards:
// stats-config.ts) and readiness on 15021. Pure.
import { ROOT_CA, SDS_CLUSTER, WORKLOAD_CERT } from '../api/mesh-identity.js';
import { statsConfig } from './stats-config.js';

export interface BootstrapInput {
  kind: 'sidecar' | 'router';
  podName: string;
  namespace: string;
  podIp: string;
  labels: Record<string, string>;
  /** host:port of the control plane's plaintext xDS port, e.g. trellis.trellis-system.svc:15010 */
  discoveryAddress: string;
  clusterDomain: string;
  serviceAccount?: string;
  /** Envoy's admin port on 127.0.0.1 (15000). */
  adminPort: number;
  statsPort: number; // 15090
  readinessPort: number; // 15021
  /** "DELTA_GRPC" or "GRPC" (state of the world). */
  adsApi: 'GRPC' | 'DELTA_GRPC';
  /** The agent's SDS socket: the workload certificate and the mesh root. */
  sdsSocket: string;
  /**
   * xDS over TLS (15012): the control plane is verified against the mesh root (the agent's ROOTCA) and its
   * DNS name (the discovery address's host); Envoy presents its workload certificate, and the
   * token on the first connection. Undefined: plaintext (a debugging control plane only).
   */
  xdsTls?: { token: string };
  /** NONE: the pod has no iptables capture (Istio's interceptionMode; default REDIRECT). */
  interceptionMode?: 'REDIRECT' | 'NONE';
}

export const DEFAULT_PORTS = { adminPort: 15000, statsPort: 15090, readinessPort: 15021 };
/** Istio's path of the agent's SDS socket in the pod. */
export const DEFAULT_SDS_SOCKET = '/var/run/secrets/workload-spiffe-uds/socket';

/** A static cluster's upstream options for a gRPC server: gRPC needs HTTP/2. */
export function grpcProtocolOptions(http2: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      explicit_http_config: { http2_protocol_options: http2 },
    },
  };
}

/** The agent in this pod: SDS for the workload certificate and the root (translate/mtls.ts). */
export function agentSdsCluster(socketPath: string): Record<string, unknown> {
  return {
    name: SDS_CLUSTER,
    type: 'STATIC',
    connect_timeout: '1s',
    typed_extension_protocol_options: grpcProtocolOptions(),
    load_assignment: { cluster_name: SDS_CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: socketPath } } } }] }] },
  };
}

export const SDS_FROM_AGENT = {
  resource_api_version: 'V3',
  // Envoy's start waits for static clusters' secrets: a pod whose CA is unreachable still gets
  // a live Envoy soon (the certificate, and with it the xDS connection, follow when signed).
  initial_fetch_timeout: '5s',
  api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', set_node_on_first_message_only: true, grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }] },
};

const isIp = (host: string): boolean => /^[\d.]+$/.test(host) || host.includes(':');

/** The upstream TLS of the xds-grpc cluster: verify the control plane, present the workload certificate. */
function xdsTransportSocket(host: string): object {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      // An address (a control plane outside the cluster) is verified as an IP SAN, without SNI.
      ...(isIp(host) ? {} : { sni: host }),
      common_tls_context: {
        tls_certificate_sds_secret_configs: [{ name: WORKLOAD_CERT, sds_config: SDS_FROM_AGENT }],
        // The roots come from the agent (ROOTCA over SDS), not from the file: Envoy reads a
        // static cluster's trusted_ca file once, so after a root change (the agent follows the
        // file) a reconnection would fail against the control plane's reissued certificate.
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [{ san_type: isIp(host) ? 'IP_ADDRESS' : 'DNS', matcher: { exact: host } }] },
          validation_context_sds_secret_config: { name: ROOT_CA, sds_config: SDS_FROM_AGENT },
        },
      },
    },
  };
}

export function nodeId(i: Pick<BootstrapInput, 'kind' | 'podIp' | 'podName' | 'namespace' | 'clusterDomain'>): string {
  return `${i.kind}~${i.podIp}~${i.podName}.${i.namespace}~${i.namespace}.svc.${i.clusterDomain}`;
}

function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`discovery address "${address}": want host:port`);
  return { host: address.slice(0, i), port };
}

const sock = (address: string, port: number): object => ({ socket_address: { address, port_value: port } });

function routeToAdmin(name: string, prefix: string, rewrite?: string): object {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      stat_prefix: name,
      codec_type: 'AUTO',
      route_config: {
        virtual_hosts: [
          {
            name,
            domains: ['*'],
            routes: [{ match: { prefix }, route: { cluster: 'trellis-admin', ...(rewrite ? { prefix_rewrite: rewrite } : {}) } }],
          },
        ],
      },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
    },
  };
}

/** The bootstrap as a plain object (Envoy accepts it as JSON or YAML). */
export function bootstrap(i: BootstrapInput): Record<string, unknown> {
  const xds = splitHostPort(i.discoveryAddress);
  const app = i.labels['app.kubernetes.io/name'] ?? i.labels.app ?? i.podName;
  return {
    node: {
      id: nodeId(i),
      cluster: `${app}.${i.namespace}`,
      metadata: {
        NAME: i.podName,
        NAMESPACE: i.namespace,
        INSTANCE_IPS: i.podIp,
        LABELS: i.labels,
        SERVICE_ACCOUNT: i.serviceAccount ?? 'default',
        PROXY_TYPE: i.kind,
        CLUSTER_ID: 'Kubernetes',
        INTERCEPTION_MODE: i.interceptionMode ?? 'REDIRECT',
        TRELLIS: 'true',
      },
    },
    admin: { address: sock('127.0.0.1', i.adminPort) },
    stats_config: statsConfig({ podName: i.podName, namespace: i.namespace, labels: i.labels }),
    dynamic_resources: {
      ads_config: {
        api_type: i.adsApi,
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' }, ...(i.xdsTls ? { initial_metadata: [{ key: 'authorization', value: `Bearer ${i.xdsTls.token}` }] } : {}) }],
      },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      lds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [
        {
          name: 'xds-grpc',
          type: isIp(xds.host) ? 'STATIC' : 'STRICT_DNS',
          connect_timeout: '1s',
          dns_lookup_family: 'V4_ONLY',
          typed_extension_protocol_options: grpcProtocolOptions({ connection_keepalive: { interval: '30s', timeout: '10s' } }),
          load_assignment: { cluster_name: 'xds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: sock(xds.host, xds.port) } }] }] },
          ...(i.xdsTls ? { transport_socket: xdsTransportSocket(xds.host) } : {}),
        },
        agentSdsCluster(i.sdsSocket),
        {
          name: 'trellis-admin',
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: { cluster_name: 'trellis-admin', endpoints: [{ lb_endpoints: [{ endpoint: { address: sock('127.0.0.1', i.adminPort) } }] }] },
        },
      ],
      listeners: [
        // Prometheus scrapes Envoy's stats here, as in Istio.
        { name: 'trellis-stats', address: sock('0.0.0.0', i.statsPort), filter_chains: [{ filters: [routeToAdmin('stats', '/stats/prometheus')] }] },
        // Kubelet readiness: /healthz/ready answers from Envoy's admin /ready (LIVE once it has
        // its first configuration).
        { name: 'trellis-readiness', address: sock('0.0.0.0', i.readinessPort), filter_chains: [{ filters: [routeToAdmin('readiness', '/healthz/ready', '/ready')] }] },
      ],
    },
  };
}
