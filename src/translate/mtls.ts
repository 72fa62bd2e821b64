// Istio's mutual TLS between sidecars. The workload certificate (`default`) and the mesh root
// (`ROOTCA`) come from the agent in the pod over SDS on a Unix socket (the bootstrap's
// `sds-grpc` cluster): the control plane never holds a workload's key.
//
// Outbound (auto mTLS): an endpoint with a sidecar carries `tlsMode: istio` in its metadata; the
// cluster's transport socket matches on it, so a client uses mTLS exactly to the endpoints that
// can take it and plaintext to the rest, and verifies the server's SPIFFE ID against the service
// accounts behind the service. DestinationRule `ISTIO_MUTUAL` forces mTLS; `DISABLE` turns it
// off. Inbound: per workload port, a chain that terminates mTLS (the client offers Istio's ALPN)
// and, unless STRICT, chains for plaintext and for TLS the app terminates itself.
import type { ClientTLSSettings } from '../api/destination-rule.js';
import { ROOT_CA, SDS_CLUSTER, TLS_MODE_LABEL, WORKLOAD_CERT } from '../api/mesh-identity.js';
import type { ConfigSource } from '../xds/generated/envoy/config/core/v3/ConfigSource.js';
import type { TransportSocket } from '../xds/generated/envoy/config/core/v3/TransportSocket.js';
import type { _envoy_config_cluster_v3_Cluster_TransportSocketMatch as TransportSocketMatch } from '../xds/generated/envoy/config/cluster/v3/Cluster.js';
import type { CommonTlsContext } from '../xds/generated/envoy/extensions/transport_sockets/tls/v3/CommonTlsContext.js';
import type { DownstreamTlsContext } from '../xds/generated/envoy/extensions/transport_sockets/tls/v3/DownstreamTlsContext.js';
import type { UpstreamTlsContext } from '../xds/generated/envoy/extensions/transport_sockets/tls/v3/UpstreamTlsContext.js';
import type { Cluster } from '../xds/types.js';
import { packAny } from '../xds/protos.js';

/** Endpoint metadata that marks a sidecar (Istio's filter and key). */
export const TRANSPORT_SOCKET_MATCH = 'envoy.transport_socket_match';
/** The ALPN a client sidecar offers, so the server's mTLS chain can be told from app TLS. */
export const MESH_ALPN = ['istio-peer-exchange', 'istio'];

const UPSTREAM_TLS = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const DOWNSTREAM_TLS = 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const RAW_BUFFER = 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';

export const AGENT_SDS_SOURCE: ConfigSource = {
  api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', set_node_on_first_message_only: true, grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }] },
  resource_api_version: 'V3',
  // Wait for the agent rather than start without a certificate (and without mTLS).
  initial_fetch_timeout: { seconds: 0, nanos: 0 },
};

/** The workload certificate and the root, both from the agent; peers verified by SAN. */
function meshTlsContext(peerSans: { exact?: string; prefix?: string }[]): CommonTlsContext {
  return {
    tls_certificate_sds_secret_configs: [{ name: WORKLOAD_CERT, sds_config: AGENT_SDS_SOURCE }],
    combined_validation_context: {
      default_validation_context: peerSans.length > 0 ? { match_typed_subject_alt_names: peerSans.map((m) => ({ san_type: 'URI' as const, matcher: m })) } : {},
      validation_context_sds_secret_config: { name: ROOT_CA, sds_config: AGENT_SDS_SOURCE },
    },
  };
}

/** A client's mTLS socket to a mesh endpoint whose identity is one of `serverIds`. */
export function meshClientSocket(sni: string, serverIds: readonly string[], trustDomains: readonly string[]): TransportSocket {
  // No known service account (e.g. no endpoint yet): any identity of the mesh's trust domains.
  const sans = serverIds.length > 0 ? serverIds.map((exact) => ({ exact })) : trustDomains.map((td) => ({ prefix: `spiffe://${td}/` }));
  const ctx: UpstreamTlsContext = { sni, common_tls_context: { ...meshTlsContext(sans), alpn_protocols: MESH_ALPN } };
  return { name: 'envoy.transport_sockets.tls', typed_config: packAny(UPSTREAM_TLS, ctx) };
}

/** A server's mTLS socket: a client certificate of the trust domain is required. */
export function meshServerSocket(trustDomains: readonly string[]): TransportSocket {
  // The mesh's trust domain and its aliases (meshConfig.trustDomainAliases), as Istio's.
  const ctx: DownstreamTlsContext = { require_client_certificate: { value: true }, common_tls_context: meshTlsContext(trustDomains.map((td) => ({ prefix: `spiffe://${td}/` }))) };
  return { name: 'envoy.transport_sockets.tls', typed_config: packAny(DOWNSTREAM_TLS, ctx) };
}

const PLAINTEXT: TransportSocket = { name: 'envoy.transport_sockets.raw_buffer', typed_config: packAny(RAW_BUFFER, {}) };

/** Istio's SNI for mesh traffic: `outbound_.<port>_.<subset>_.<host>`. */
export function meshSni(port: number, host: string, subset = ''): string {
  return `outbound_.${port}_.${subset}_.${host}`;
}

/** Whether a cluster uses mesh mTLS: DestinationRule TLS settings decide, unset means auto. */
export function meshTlsMode(tls: ClientTLSSettings | undefined): 'auto' | 'always' | 'never' {
  switch (tls?.mode) {
    case undefined:
      return 'auto';
    case 'ISTIO_MUTUAL':
      return 'always';
    default:
      // DISABLE, or SIMPLE/MUTUAL origination (cluster-settings.ts sets that socket).
      return 'never';
  }
}

/** The cluster fields for mesh mTLS to one service port (and subset). */
export function meshTlsFields(
  tls: ClientTLSSettings | undefined,
  sni: string,
  serverIds: readonly string[],
  trustDomains: readonly string[],
  /** The servers' PeerAuthentication is DISABLE: auto mTLS stays off (ISTIO_MUTUAL does not). */
  serverDisabled = false,
): Pick<Cluster, 'transport_socket' | 'transport_socket_matches'> {
  const mode = meshTlsMode(tls);
  if (mode === 'never' || (mode === 'auto' && serverDisabled)) return {};
  const socket = meshClientSocket(tls?.sni ?? sni, tls?.subjectAltNames?.length ? tls.subjectAltNames : serverIds, trustDomains);
  if (mode === 'always') return { transport_socket: socket };
  const matches: TransportSocketMatch[] = [
    { name: 'tlsMode-istio', match: { fields: { tlsMode: { stringValue: 'istio' } } }, transport_socket: socket },
    { name: 'tlsMode-disabled', match: {}, transport_socket: PLAINTEXT },
  ];
  return { transport_socket_matches: matches };
}

/** Endpoint metadata marking an endpoint that has a sidecar (from its pod's label). */
export function endpointTlsMetadata(labels: Readonly<Record<string, string>>): { filter_metadata: Record<string, { fields: Record<string, { stringValue: string }> }> } | undefined {
  if (labels[TLS_MODE_LABEL] !== 'istio') return undefined;
  return { filter_metadata: { [TRANSPORT_SOCKET_MATCH]: { fields: { tlsMode: { stringValue: 'istio' } } } } };
}
