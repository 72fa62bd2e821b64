// Small, valid Envoy resources for tests and benchmarks: an EDS cluster, its endpoints, an HTTP
// listener on loopback whose routes come over RDS, and a route table. Typed by the generated
// Envoy types, so a wrong field name fails the type check.
import type { ConfigSource } from '../../src/xds/generated/envoy/config/core/v3/ConfigSource.js';
import type { HttpConnectionManager } from '../../src/xds/generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager.js';
import type { Router } from '../../src/xds/generated/envoy/extensions/filters/http/router/v3/Router.js';
import type { Route } from '../../src/xds/generated/envoy/config/route/v3/Route.js';
import { packAny } from '../../src/xds/protos.js';
import type { Snapshot } from '../../src/xds/snapshot.js';
import { TypeUrl } from '../../src/xds/types.js';
import type { AdsClient } from './ads-client.js';
import type { Cluster, ClusterLoadAssignment, Listener, RouteConfiguration } from '../../src/xds/types.js';

const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'envoy.extensions.filters.http.router.v3.Router';

/** ADS, or a per-type gRPC service (state of the world or delta) on the named bootstrap cluster. */
export function configSource(via: 'ads' | { grpcCluster: string; apiType?: 'GRPC' | 'DELTA_GRPC' } = 'ads'): ConfigSource {
  if (via === 'ads') return { ads: {}, resource_api_version: 'V3' };
  return {
    api_config_source: { api_type: via.apiType ?? 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: via.grpcCluster } }] },
    resource_api_version: 'V3',
  };
}

export function edsCluster(name: string, source: ConfigSource = configSource()): Cluster {
  return { name, type: 'EDS', connect_timeout: { seconds: 1 }, eds_cluster_config: { eds_config: source } };
}

export function endpoints(cluster: string, addresses: ReadonlyArray<{ host: string; port: number }>): ClusterLoadAssignment {
  return {
    cluster_name: cluster,
    endpoints: [{ lb_endpoints: addresses.map((a) => ({ endpoint: { address: { socket_address: { address: a.host, port_value: a.port } } } })) }],
  };
}

export function httpConnectionManager(routeName: string, source: ConfigSource = configSource(), statPrefix = routeName): HttpConnectionManager {
  return {
    stat_prefix: statPrefix,
    rds: { route_config_name: routeName, config_source: source },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: packAny(ROUTER, {} satisfies Router) }],
  };
}

/** An HTTP listener on host:port whose routes come from RouteConfiguration `routeName`. */
export function httpListener(name: string, port: number, routeName: string, opts: { host?: string; source?: ConfigSource; hcm?: HttpConnectionManager } = {}): Listener {
  const hcm = opts.hcm ?? httpConnectionManager(routeName, opts.source);
  return {
    name,
    address: { socket_address: { address: opts.host ?? '127.0.0.1', port_value: port } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: packAny(HCM, hcm) }] }],
  };
}

/**
 * A listener Envoy rejects when it applies it (its HTTP connection manager has an empty
 * stat_prefix, which Envoy's proto validation refuses), though it encodes fine.
 */
export function rejectedListener(name: string, port: number, routeName: string): Listener {
  return httpListener(name, port, routeName, { hcm: httpConnectionManager(routeName, configSource(), '') });
}

export interface SimpleRoute {
  prefix: string;
  cluster?: string;
  /** Weighted split instead of a single cluster. */
  weights?: Record<string, number>;
  /** Added to the response, so a client can tell which route answered. */
  responseHeader?: [string, string];
}

export function routeConfiguration(name: string, routes: readonly SimpleRoute[], domains: readonly string[] = ['*']): RouteConfiguration {
  return {
    name,
    virtual_hosts: [
      {
        name: `${name}-vh`,
        domains: [...domains],
        routes: routes.map((r): Route => ({
          match: { prefix: r.prefix },
          route: r.weights
            ? { weighted_clusters: { clusters: Object.entries(r.weights).map(([cluster, weight]) => ({ name: cluster, weight: { value: weight } })) } }
            : { cluster: r.cluster ?? '' },
          ...(r.responseHeader ? { response_headers_to_add: [{ header: { key: r.responseHeader[0], value: r.responseHeader[1] } }] } : {}),
        })),
      },
    ],
  };
}

/** A small complete configuration: cluster a with one endpoint, listener http routing r to a. */
export function smallSnapshot(): Snapshot {
  return {
    [TypeUrl.Cluster]: new Map([['a', edsCluster('a')]]),
    [TypeUrl.Endpoint]: new Map([['a', endpoints('a', [{ host: '127.0.0.1', port: 9001 }])]]),
    [TypeUrl.Listener]: new Map([['http', httpListener('http', 10080, 'r')]]),
    [TypeUrl.Route]: new Map([['r', routeConfiguration('r', [{ prefix: '/', cluster: 'a' }])]]),
  };
}

/** Subscribes like Envoy to smallSnapshot: CDS and LDS wildcard, EDS and RDS by name; resolves once it holds all four. */
export async function subscribeLikeEnvoy(c: AdsClient): Promise<void> {
  c.subscribe(TypeUrl.Cluster, []);
  c.subscribe(TypeUrl.Endpoint, ['a']);
  c.subscribe(TypeUrl.Listener, []);
  c.subscribe(TypeUrl.Route, ['r']);
  await c.until('initial config', () => c.names(TypeUrl.Cluster).length > 0 && c.names(TypeUrl.Route).length > 0 && c.names(TypeUrl.Listener).length > 0 && c.names(TypeUrl.Endpoint).length > 0);
}
