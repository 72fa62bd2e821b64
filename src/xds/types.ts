// The xDS resource types Trellis serves, by type URL, and the TypeScript type of each resource
// (generated from Envoy's protos by scripts/gen-xds-types.sh).
import type { Cluster } from './generated/envoy/config/cluster/v3/Cluster.js';
import type { ClusterLoadAssignment } from './generated/envoy/config/endpoint/v3/ClusterLoadAssignment.js';
import type { Listener } from './generated/envoy/config/listener/v3/Listener.js';
import type { RouteConfiguration } from './generated/envoy/config/route/v3/RouteConfiguration.js';
import type { Secret } from './generated/envoy/extensions/transport_sockets/tls/v3/Secret.js';

export type { Cluster, ClusterLoadAssignment, Listener, RouteConfiguration, Secret };

const PREFIX = 'type.googleapis.com/';

export const TypeUrl = {
  Listener: `${PREFIX}envoy.config.listener.v3.Listener`,
  Route: `${PREFIX}envoy.config.route.v3.RouteConfiguration`,
  Cluster: `${PREFIX}envoy.config.cluster.v3.Cluster`,
  Endpoint: `${PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`,
  Secret: `${PREFIX}envoy.extensions.transport_sockets.tls.v3.Secret`,
} as const;

export type TypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

/** The message type of each resource type. */
export interface ResourceOf {
  [TypeUrl.Listener]: Listener;
  [TypeUrl.Route]: RouteConfiguration;
  [TypeUrl.Cluster]: Cluster;
  [TypeUrl.Endpoint]: ClusterLoadAssignment;
  [TypeUrl.Secret]: Secret;
}

export const ALL_TYPES: readonly TypeUrl[] = [TypeUrl.Secret, TypeUrl.Cluster, TypeUrl.Endpoint, TypeUrl.Listener, TypeUrl.Route];

/** Short names for logs and metric labels. */
export const SHORT_NAME: Record<TypeUrl, string> = {
  [TypeUrl.Listener]: 'lds',
  [TypeUrl.Route]: 'rds',
  [TypeUrl.Cluster]: 'cds',
  [TypeUrl.Endpoint]: 'eds',
  [TypeUrl.Secret]: 'sds',
};

/**
 * Listener and Cluster are the types a client may subscribe to with a wildcard, and the ones a
 * state-of-the-world response must list completely (an omitted resource is deleted).
 */
export function isWildcardType(t: TypeUrl): boolean {
  return t === TypeUrl.Listener || t === TypeUrl.Cluster;
}

export function isTypeUrl(s: string): s is TypeUrl {
  return s in SHORT_NAME;
}

/** The fully qualified protobuf message name of a type URL. */
export function messageName(t: string): string {
  return t.slice(t.lastIndexOf('/') + 1);
}

/** The resource's own name field (ClusterLoadAssignment names itself by cluster_name). */
export function resourceName(t: TypeUrl, msg: ResourceOf[TypeUrl]): string | undefined {
  return t === TypeUrl.Endpoint ? (msg as ClusterLoadAssignment).cluster_name : (msg as { name?: string }).name;
}
