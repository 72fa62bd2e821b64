// A gateway (router) proxy's configuration: for every Gateway whose selector matches the
// proxy's labels, one bound listener per server port; HTTP servers route through RDS
// `http.<port>` whose virtual hosts are the VirtualServices bound to the Gateway, merged as Istio
// documents (src/model/gateway-routes.ts). Clusters and endpoints are the proxy's outbound ones.
// (HTTPS with credentialName over SDS, PASSTHROUGH and TCP servers are not translated yet.)
import type { Mesh } from '../model/mesh.js';
import type { RouteConfiguration } from '../xds/types.js';
import type { Listener } from '../xds/types.js';
import type { Snapshot } from '../xds/snapshot.js';
import { resourceName, TypeUrl, type ResourceOf } from '../xds/types.js';
import type { VirtualHost } from '../xds/generated/envoy/config/route/v3/VirtualHost.js';
import { sidecarClusters } from './clusters.js';
import { httpConnectionManagerFilter } from './filters.js';
import { httpRoutes } from './http-routes.js';
import type { MeshView, SidecarProxy } from './input.js';
import { sidecarEndpoints } from './snapshot.js';

export type GatewayMeshView = MeshView & Pick<Mesh, 'gateways' | 'gatewayRoutes'>;

const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);

export const gatewayRouteName = (port: number): string => `http.${port}`;
export const gatewayListenerName = (port: number): string => `0.0.0.0_${port}`;

/** The Gateways that select this proxy (every label of the selector on the proxy). */
export function gatewaysFor(mesh: GatewayMeshView, proxy: SidecarProxy): ReturnType<Mesh['gateways']> {
  return mesh.gateways().filter((g) => {
    const sel = g.spec.selector ?? {};
    return Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => proxy.labels[k] === v);
  });
}

/** The HTTP ports this proxy serves and, for each, its virtual hosts. */
export function gatewayRouteConfigurations(mesh: GatewayMeshView, proxy: SidecarProxy): RouteConfiguration[] {
  const byPort = new Map<number, Map<string, VirtualHost>>();
  for (const gw of gatewaysFor(mesh, proxy)) {
    const httpPorts = new Set((gw.spec.servers ?? []).filter((s) => HTTP_PROTOCOLS.has((s.port?.protocol ?? '').toUpperCase()) && !s.tls?.httpsRedirect).map((s) => s.port!.number));
    for (const port of httpPorts) if (!byPort.has(port)) byPort.set(port, new Map());
    for (const vh of mesh.gatewayRoutes(`${gw.namespace}/${gw.name}`, proxy.namespace)) {
      const hosts = byPort.get(vh.port);
      if (!hosts || hosts.has(vh.host)) continue; // an earlier Gateway on the port has this host
      const ctx = { mesh, proxy, port: vh.port };
      // The match was chosen for this gateway already: its `gateways` list has done its job.
      const routes = vh.routes.flatMap((r) => httpRoutes(ctx, r.source.namespace, { ...r.route, match: r.match ? [{ ...r.match, gateways: undefined }] : undefined }));
      hosts.set(vh.host, { name: `${vh.host}:${vh.port}`, domains: vh.host === '*' ? ['*'] : [vh.host, `${vh.host}:*`], routes });
    }
  }
  return [...byPort].sort((a, b) => a[0] - b[0]).map(([port, hosts]) => ({
    name: gatewayRouteName(port),
    // A host with no route answers 404 from Envoy, as Istio's gateways do.
    virtual_hosts: [...hosts.values()].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')),
    validate_clusters: { value: false },
  }));
}

export function gatewayListeners(routes: readonly RouteConfiguration[]): Listener[] {
  return routes.map((rc) => {
    const port = Number((rc.name ?? '').slice('http.'.length));
    return {
      name: gatewayListenerName(port),
      address: { socket_address: { address: '0.0.0.0', port_value: port } },
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ filters: [httpConnectionManagerFilter(rc.name ?? '', rc.name ?? '', 'outbound')] }],
    };
  });
}

function byName<T extends TypeUrl>(type: T, items: readonly ResourceOf[T][]): Map<string, ResourceOf[T]> {
  return new Map(items.map((x) => [resourceName(type, x) ?? '', x]));
}

/** Listeners, routes, clusters and endpoints for one gateway proxy. */
export function gatewaySnapshot(mesh: GatewayMeshView, proxy: SidecarProxy): Snapshot {
  const routes = gatewayRouteConfigurations(mesh, proxy);
  const clusters = sidecarClusters(mesh, proxy).filter((c) => (c.name ?? '').startsWith('outbound|') || c.name === 'BlackHoleCluster');
  const eds = new Set(clusters.filter((c) => c.type === 'EDS').map((c) => c.name));
  return {
    [TypeUrl.Cluster]: byName(TypeUrl.Cluster, clusters),
    [TypeUrl.Endpoint]: byName(TypeUrl.Endpoint, sidecarEndpoints(mesh, proxy).filter((e) => eds.has(e.cluster_name ?? ''))),
    [TypeUrl.Listener]: byName(TypeUrl.Listener, gatewayListeners(routes)),
    [TypeUrl.Route]: byName(TypeUrl.Route, routes),
  };
}
