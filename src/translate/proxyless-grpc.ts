// Configuration for proxyless gRPC clients (@grpc/grpc-js-xds, grpc-go, grpc-java): Istio's
// "grpc" generator, chosen from node metadata GENERATOR=grpc. Such a client resolves
// `xds:///<host>:<port>` by subscribing, by name only, to the Listener `<host>:<port>` (an
// api_listener whose HttpConnectionManager takes its routes over RDS), then to the
// RouteConfiguration of the same name, the EDS Cluster `outbound|<port>||<host>` and its
// ClusterLoadAssignment. Pure functions over plain inputs.
import type { HttpConnectionManager } from '../xds/generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager.js';
import type { Router } from '../xds/generated/envoy/extensions/filters/http/router/v3/Router.js';
import type { ProxyInfo } from '../xds/proxy-info.js';
import { packAny } from '../xds/protos.js';
import type { Snapshot } from '../xds/snapshot.js';
import { TypeUrl, type Cluster, type ClusterLoadAssignment, type Listener, type RouteConfiguration } from '../xds/types.js';
import { ADS_CONFIG_SOURCE } from './config-source.js';

const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'envoy.extensions.filters.http.router.v3.Router';

export interface ProxylessEndpoint {
  readonly address: string;
  readonly port: number;
}

/** One port of one service, as a proxyless client dials it (`xds:///<hostname>:<port>`). */
export interface ProxylessService {
  /** e.g. `echo.default.svc.cluster.local`. */
  readonly hostname: string;
  readonly port: number;
  /** Other names clients may dial the port by (e.g. `echo`, `echo.default`). */
  readonly aliases?: readonly string[];
  readonly endpoints: readonly ProxylessEndpoint[];
}

/** Whether a node is a proxyless gRPC client (Istio: metadata GENERATOR=grpc). */
export function isProxyless(proxy: ProxyInfo): boolean {
  return proxy.generator === 'grpc';
}

/** The Listener and RouteConfiguration name of a service port: the `xds:///` target's path. */
export function proxylessListenerName(hostname: string, port: number): string {
  return `${hostname}:${port}`;
}

export function proxylessClusterName(hostname: string, port: number): string {
  return `outbound|${port}||${hostname}`;
}

function names(s: ProxylessService): string[] {
  return [s.hostname, ...(s.aliases ?? [])];
}

/** An api_listener per name the service port can be dialled by; routes over RDS (ADS). */
export function proxylessListeners(s: ProxylessService): Listener[] {
  const route = proxylessListenerName(s.hostname, s.port);
  const hcm: HttpConnectionManager = {
    stat_prefix: route,
    rds: { route_config_name: route, config_source: ADS_CONFIG_SOURCE },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: packAny(ROUTER, {} satisfies Router) }],
  };
  return names(s).map((n) => ({ name: proxylessListenerName(n, s.port), api_listener: { api_listener: packAny(HCM, hcm) } }));
}

export function proxylessRoute(s: ProxylessService): RouteConfiguration {
  const name = proxylessListenerName(s.hostname, s.port);
  const domains = names(s).flatMap((n) => [n, proxylessListenerName(n, s.port)]);
  return {
    name,
    virtual_hosts: [{ name, domains, routes: [{ match: { prefix: '' }, route: { cluster: proxylessClusterName(s.hostname, s.port) } }] }],
  };
}

export function proxylessCluster(s: ProxylessService): Cluster {
  return {
    name: proxylessClusterName(s.hostname, s.port),
    type: 'EDS',
    lb_policy: 'ROUND_ROBIN',
    eds_cluster_config: { eds_config: ADS_CONFIG_SOURCE },
  };
}

/** gRPC ignores localities without a weight: one locality of weight 1. */
export function proxylessEndpoints(s: ProxylessService): ClusterLoadAssignment {
  return {
    cluster_name: proxylessClusterName(s.hostname, s.port),
    endpoints: [
      {
        locality: {},
        load_balancing_weight: { value: 1 },
        lb_endpoints: s.endpoints.map((e) => ({
          health_status: 'HEALTHY',
          endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
        })),
      },
    ],
  };
}

/** Everything a proxyless client may subscribe to, for a set of service ports. */
export function proxylessSnapshot(services: readonly ProxylessService[]): Snapshot {
  const listeners = new Map<string, Listener>();
  const routes = new Map<string, RouteConfiguration>();
  const clusters = new Map<string, Cluster>();
  const cla = new Map<string, ClusterLoadAssignment>();
  for (const s of services) {
    for (const l of proxylessListeners(s)) if (l.name && !listeners.has(l.name)) listeners.set(l.name, l);
    const r = proxylessRoute(s);
    routes.set(r.name ?? '', r);
    const c = proxylessCluster(s);
    clusters.set(c.name ?? '', c);
    cla.set(c.name ?? '', proxylessEndpoints(s));
  }
  return { [TypeUrl.Listener]: listeners, [TypeUrl.Route]: routes, [TypeUrl.Cluster]: clusters, [TypeUrl.Endpoint]: cla };
}
