// A gateway (router) proxy's configuration: for every Gateway whose selector matches the
// proxy's labels, one bound listener per server port; HTTP servers route through RDS
// `http.<port>` whose virtual hosts are the VirtualServices bound to the Gateway, merged as Istio
// documents (src/model/gateway-routes.ts). Clusters and endpoints are the proxy's outbound ones.
// HTTPS servers terminate TLS with the certificate of their credentialName, over SDS
// (gateway-tls.ts); HTTP servers with httpsRedirect answer 301 to https; TLS PASSTHROUGH servers
// forward by SNI (gateway-passthrough.ts). (TCP servers are not translated yet.)
import type { Mesh } from '../model/mesh.js';
import type { Listener, RouteConfiguration, Secret } from '../xds/types.js';
import type { Snapshot } from '../xds/snapshot.js';
import { TypeUrl } from '../xds/types.js';
import { parseServerHost } from '../model/hosts.js';
import type { VirtualHost } from '../xds/generated/envoy/config/route/v3/VirtualHost.js';
import { blackholeCluster, outboundClusters } from './clusters.js';
import { listenerAccessLogs, NO_ACCESS_LOGS, type ListenerAccessLogs } from './access-log.js';
import { httpConnectionManagerFilter, tlsInspectorListenerFilter } from './filters.js';
import { NO_SECURITY, workloadSecurity, type WorkloadSecurity } from './workload-security.js';
import { gatewayPassthroughListeners } from './gateway-passthrough.js';
import { gatewayListenerName, gatewaysFor, listenPorts, type GatewayMeshView } from './gateway-proxy.js';
import { credentialSecrets, downstreamTls, type ServerTlsMode } from './gateway-tls.js';
import { httpRoutes } from './http-routes.js';
import { isHttp } from '../model/protocol.js';
import { visibleDestinations, type SidecarProxy } from './input.js';
import { sidecarEndpoints } from './endpoints.js';
import { byName, once, pickTypes } from './resources.js';

const ALL_GATEWAY_TYPES = new Set<TypeUrl>(Object.values(TypeUrl));


export const gatewayRouteName = (port: number, https = false): string => `${https ? 'https' : 'http'}.${port}`;


type GatewayServer = NonNullable<GatewaySpecOf['servers']>[number];
type GatewaySpecOf = ReturnType<Mesh['gateways']>[number]['spec'];

interface PortPlan {
  /** The Gateway server port (what routes and virtual hosts are keyed by). */
  port: number;
  /** The port the listener binds (the gateway Service's targetPort for it). */
  bind: number;
  https: boolean;
  /** HTTPS servers on this port (their SNI hosts and credential), in Gateway order. */
  tlsServers: { hosts: string[]; credential: string; mode: ServerTlsMode }[];
  /** Hosts whose plain HTTP server redirects to HTTPS. */
  redirect: Set<string>;
  hosts: Map<string, VirtualHost>;
}

function serverKind(s: GatewayServer): 'http' | 'https' | undefined {
  const protocol = (s.port?.protocol ?? '').toUpperCase();
  if (isHttp(protocol)) return 'http';
  const mode = s.tls?.mode ?? 'SIMPLE';
  if (protocol === 'HTTPS' && (mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') && s.tls?.credentialName) return 'https';
  return undefined;
}


/** The domains of a gateway virtual host: the host with any port, or everything for `*`. */
const hostDomains = (host: string): string[] => (host === '*' ? ['*'] : [host, `${host}:*`]);

/** Per served port: HTTP or HTTPS, its TLS servers, and its virtual hosts from the bound VirtualServices. */
export function gatewayPorts(
  mesh: GatewayMeshView,
  proxy: SidecarProxy,
  gateways = gatewaysFor(mesh, proxy),
  bind = listenPorts(mesh, proxy),
): PortPlan[] {
  const plans = new Map<number, PortPlan>();
  for (const gw of gateways) {
    for (const server of gw.spec.servers ?? []) {
      const kind = serverKind(server);
      const port = server.port?.number;
      if (!kind || port === undefined) continue;
      let plan = plans.get(port);
      if (!plan) plans.set(port, (plan = { port, bind: bind(port), https: kind === 'https', tlsServers: [], redirect: new Set(), hosts: new Map() }));
      if (plan.https !== (kind === 'https')) continue; // HTTP and HTTPS on one port: the first wins
      const hosts = (server.hosts ?? []).map((h) => parseServerHost(h, gw.namespace).host);
      if (kind === 'https') plan.tlsServers.push({ hosts, credential: server.tls!.credentialName!, mode: (server.tls!.mode ?? 'SIMPLE') as ServerTlsMode });
      else if (server.tls?.httpsRedirect) for (const h of hosts) plan.redirect.add(h);
    }
    for (const vh of mesh.gatewayRoutes(`${gw.namespace}/${gw.name}`, proxy.namespace)) {
      const plan = plans.get(vh.port);
      if (!plan || plan.hosts.has(vh.host)) continue; // an earlier Gateway on the port has this host
      const ctx = { mesh, proxy, port: vh.port, gateways: [`${gw.namespace}/${gw.name}`] };
      // Each entry is one match of a route, already chosen for this gateway and port (model/gateway-routes.ts).
      const routes = vh.routes.flatMap((r) => httpRoutes(ctx, { ...r.route, matches: r.match ? [r.match] : undefined }));
      plan.hosts.set(vh.host, {
        name: `${vh.host}:${vh.port}`,
        domains: hostDomains(vh.host),
        routes,
        ...(plan.redirect.has(vh.host) || plan.redirect.has('*') ? { require_tls: 'ALL' as const } : {}),
      });
    }
  }
  // A redirecting host needs a virtual host even when no VirtualService routes it.
  for (const plan of plans.values()) {
    for (const h of plan.redirect) {
      if (!plan.hosts.has(h)) plan.hosts.set(h, { name: `${h}:${plan.port}`, domains: hostDomains(h), routes: [{ match: { prefix: '/' }, direct_response: { status: 404 } }], require_tls: 'ALL' });
    }
  }
  return [...plans.values()].sort((a, b) => a.port - b.port);
}

/** The route configuration of each served port. */
export function gatewayRouteConfigurations(plans: readonly PortPlan[]): RouteConfiguration[] {
  return plans.map((p) => ({
    name: gatewayRouteName(p.port, p.https),
    // A host with no route answers 404 from Envoy, as Istio's gateways do.
    virtual_hosts: [...p.hosts.values()].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')),
    validate_clusters: { value: false },
  }));
}

/** A bound listener per port; HTTPS ports get a filter chain per server, matched by SNI. */
export function gatewayListeners(
  mesh: GatewayMeshView,
  proxy: SidecarProxy,
  plans: readonly PortPlan[],
  security: WorkloadSecurity = NO_SECURITY,
  logs: ListenerAccessLogs = NO_ACCESS_LOGS,
): Listener[] {
  const ns = proxy.namespace ?? 'default';
  return plans.flatMap((p): Listener[] => {
    const rds = gatewayRouteName(p.port, p.https);
    const base = { name: gatewayListenerName(p.bind), address: { socket_address: { address: '0.0.0.0', port_value: p.bind } }, traffic_direction: 'OUTBOUND' as const };
    if (!p.https) return [{ ...base, filter_chains: [{ filters: [httpConnectionManagerFilter(rds, rds, 'outbound', security.http, logs)] }] }];
    // A server whose Secret is missing (in the proxy's own namespace) is left out rather than
    // keeping the whole listener warming for a certificate that does not exist.
    const chains = p.tlsServers
      .filter((t) => mesh.tlsSecret(ns, t.credential)?.cert)
      .map((t) => ({
        filter_chain_match: t.hosts.includes('*') ? {} : { server_names: t.hosts },
        transport_socket: downstreamTls(t.credential, t.mode),
        filters: [httpConnectionManagerFilter(rds, rds, 'outbound', security.http, logs)],
      }));
    return chains.length ? [{ ...base, listener_filters: [tlsInspectorListenerFilter()], filter_chains: chains }] : [];
  });
}

/** The SDS Secrets of the HTTPS servers: only from the gateway proxy's own namespace. */
export function gatewaySecrets(mesh: GatewayMeshView, proxy: SidecarProxy, plans: readonly PortPlan[]): Secret[] {
  const ns = proxy.namespace ?? 'default';
  const seen = new Set<string>();
  const out: Secret[] = [];
  for (const t of plans.flatMap((p) => p.tlsServers)) {
    if (seen.has(t.credential)) continue;
    seen.add(t.credential);
    const secret = mesh.tlsSecret(ns, t.credential);
    if (secret?.cert) out.push(...credentialSecrets(t.credential, secret));
  }
  return out;
}

/** Listeners, routes, clusters and endpoints for one gateway proxy. */
export function gatewaySnapshot(mesh: GatewayMeshView, proxy: SidecarProxy, types: ReadonlySet<TypeUrl> = ALL_GATEWAY_TYPES): Snapshot {
  const gateways = once(() => gatewaysFor(mesh, proxy));
  const bind = once(() => listenPorts(mesh, proxy));
  const plans = once(() => gatewayPorts(mesh, proxy, gateways(), bind()));
  // The gateway's own AuthorizationPolicies and RequestAuthentications (selector or targetRefs).
  const security = once(() => workloadSecurity(mesh, proxy.namespace ?? 'default', { ...proxy.labels }));
  // What it logs: Istio counts a gateway as the client side (Telemetry's CLIENT mode).
  const logs = once(() => listenerAccessLogs(mesh.accessLogsFor(proxy.namespace ?? 'default', { ...proxy.labels }, 'CLIENT')));
  const visible = once(() => visibleDestinations(mesh, proxy));
  // A gateway's clusters: the sidecar's outbound ones and BlackHoleCluster (no inbound side).
  const clusters = once(() => [...outboundClusters(mesh, proxy, visible()), blackholeCluster()]);
  return pickTypes(types, {
    [TypeUrl.Cluster]: () => byName(TypeUrl.Cluster, clusters()),
    [TypeUrl.Endpoint]: () => {
      const eds = new Set(clusters().filter((c) => c.type === 'EDS').map((c) => c.name));
      return byName(TypeUrl.Endpoint, sidecarEndpoints(mesh, proxy, visible()).filter((e) => eds.has(e.cluster_name ?? '')));
    },
    [TypeUrl.Listener]: () =>
      byName(TypeUrl.Listener, [
        ...gatewayListeners(mesh, proxy, plans(), security(), logs()),
        ...gatewayPassthroughListeners(mesh, proxy, new Set(plans().map((p) => p.port)), gateways(), bind(), security(), logs()),
      ]),
    [TypeUrl.Route]: () => byName(TypeUrl.Route, gatewayRouteConfigurations(plans())),
    [TypeUrl.Secret]: () => byName(TypeUrl.Secret, gatewaySecrets(mesh, proxy, plans())),
  });
}
