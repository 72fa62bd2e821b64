// Outbound route configurations: RouteConfiguration `<port>` for every HTTP port, with one
// virtual host per service on that port (domains: every name the service answers to from the
// proxy's namespace, with and without the port, and its addresses) routing by the service's
// VirtualService, or to the service itself; and a catch-all virtual host: PassthroughCluster
// (or the Sidecar's egress proxy) under ALLOW_ANY, a 502 under REGISTRY_ONLY.
import type { MeshService } from '../model/mesh-services.js';
import type { VirtualHost } from '../xds/generated/envoy/config/route/v3/VirtualHost.js';
import type { RouteConfiguration } from '../xds/types.js';
import { defaultRoute, hashPolicyFor, SIDECAR_GATEWAYS, virtualServiceRoutes } from './http-routes.js';
import { proxyNamespace, type MeshView, type SidecarProxy } from './input.js';
import { servicePortsByNumber } from './listeners-outbound.js';
import { BLACKHOLE_CLUSTER, outboundClusterName, outboundRouteName, PASSTHROUGH_CLUSTER } from './names.js';
import { listenerProtocol } from '../model/protocol.js';

/** The names a service answers to from `clientNamespace`, each with and without `:port`. */
export function serviceDomains(service: MeshService, port: number, clientNamespace: string, domain: string): string[] {
  const names: string[] = [service.hostname];
  const suffix = `.${service.namespace}.svc.${domain}`;
  if (service.source === 'Kubernetes' && service.hostname.endsWith(suffix)) {
    const short = service.hostname.slice(0, -suffix.length);
    if (service.namespace === clientNamespace) names.push(short);
    names.push(`${short}.${service.namespace}`, `${short}.${service.namespace}.svc`);
  }
  names.push(...service.addresses.filter((a) => !a.includes('/')));
  return names.flatMap((n) => [n, `${n.includes(':') ? `[${n}]` : n}:${port}`]);
}

/** The virtual host of what no service claims; `fallback` as listeners-outbound's fallbackCluster gives it. */
function catchAll(fallback: string): VirtualHost {
  if (fallback === BLACKHOLE_CLUSTER) {
    return { name: 'block_all', domains: ['*'], routes: [{ name: 'block_all', match: { prefix: '/' }, direct_response: { status: 502 } }] };
  }
  return { name: 'allow_any', domains: ['*'], routes: [{ name: 'allow_any', match: { prefix: '/' }, route: { cluster: fallback, timeout: { seconds: 0, nanos: 0 } } }] };
}

/** RouteConfiguration `<port>` for one HTTP port. */
export function outboundRouteConfiguration(mesh: MeshView, proxy: SidecarProxy, port: number, services: readonly MeshService[], fallback: string): RouteConfiguration {
  return routeConfiguration(mesh, proxy, outboundRouteName(port), services.map((service) => ({ service, port })), fallback);
}

/**
 * RouteConfiguration `unix://<path>` of an egress listener on a Unix domain socket: a virtual host
 * for every HTTP port of its services (Istio's listener port 0), the names without a port for
 * the lowest. No catch-all passes through: a socket has no original destination to pass to.
 */
export function socketRouteConfiguration(mesh: MeshView, proxy: SidecarProxy, bind: string, services: readonly MeshService[], fallback: string): RouteConfiguration {
  const entries = services.flatMap((service) => service.ports.filter((p) => listenerProtocol(p.protocol) === 'http').map((p) => ({ service, port: p.number })));
  return routeConfiguration(mesh, proxy, bind, entries.sort((a, b) => a.port - b.port), fallback === PASSTHROUGH_CLUSTER ? undefined : fallback);
}

function routeConfiguration(mesh: MeshView, proxy: SidecarProxy, name: string, entries: ReadonlyArray<{ service: MeshService; port: number }>, fallback: string | undefined): RouteConfiguration {
  const ns = proxyNamespace(proxy);
  const used = new Set<string>();
  const vhosts: VirtualHost[] = [];
  for (const { service, port } of entries) {
    const domains = serviceDomains(service, port, ns, mesh.domain).filter((d) => !used.has(d));
    if (domains.length === 0) continue;
    for (const d of domains) used.add(d);
    const vs = mesh.sidecarVirtualServiceFor(service.hostname, ns, proxy.labels);
    const ctx = { mesh, proxy, port, gateways: SIDECAR_GATEWAYS };
    const cluster = outboundClusterName(port, service.hostname);
    const routes = vs ? virtualServiceRoutes(ctx, vs) : [defaultRoute(cluster, hashPolicyFor(ctx, { host: service.hostname, port, subset: undefined }))];
    vhosts.push({ name: `${service.hostname}:${port}`, domains, routes, include_request_attempt_count: true });
  }
  if (fallback !== undefined) vhosts.push(catchAll(fallback));
  return { name, virtual_hosts: vhosts, validate_clusters: { value: false } };
}

/** The route configurations of every outbound HTTP port. */
export function outboundRouteConfigurations(mesh: MeshView, proxy: SidecarProxy, fallback: string, ports = servicePortsByNumber(mesh, proxy)): RouteConfiguration[] {
  const out: RouteConfiguration[] = [];
  for (const [port, entries] of [...ports].sort((a, b) => a[0] - b[0])) {
    const http = entries.filter((e) => listenerProtocol(e.port.protocol) === 'http').map((e) => e.service);
    if (http.length > 0) out.push(outboundRouteConfiguration(mesh, proxy, port, http, fallback));
  }
  return out;
}
