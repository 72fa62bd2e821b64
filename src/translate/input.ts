// What the sidecar translation reads: the Mesh's answers (Istio's host resolution, visibility,
// VirtualService and DestinationRule precedence) and the proxy, plus sidecar options.
import type { Labels } from '../api/common.js';
import type { Mesh } from '../model/mesh.js';
import type { MeshService, MeshServicePort } from '../model/mesh-services.js';
import { bindAt, egressListenerAddress, type PortBind } from '../model/sidecars.js';
import { INBOUND_CAPTURE_PORT, outboundClusterName, OUTBOUND_CAPTURE_PORT } from './names.js';

/** The parts of the Mesh the translation uses (a Mesh is one; tests may pass a plain object). */
export type MeshView = Pick<Mesh, 'domain' | 'services' | 'endpoints' | 'destinationRuleFor' | 'destinationRulesFor' | 'sidecarVirtualServiceFor' | 'sidecarScope' | 'sidecarServices' | 'visibleServices' | 'virtualService' | 'httpRoutes' | 'l4Routes' | 'resolveHost' | 'tlsSecret' | 'proxyLabelKeys' | 'trustDomain' | 'trustDomains' | 'mtlsFor' | 'rootNamespace' | 'authorizationPoliciesFor' | 'requestAuthenticationsFor' | 'extensionProviders' | 'jwks' | 'accessLogsFor' | 'endpointsVersion' | 'hostsMovedSince'>;

/** Istio's outboundTrafficPolicy: unknown destinations pass through, or are refused. */
export type OutboundPolicy = 'ALLOW_ANY' | 'REGISTRY_ONLY';

export interface SidecarOptions {
  outboundPolicy: OutboundPolicy;
  /** Under ALLOW_ANY, the egress proxy's cluster: what matches no service goes there, not through. */
  egressCluster?: string;
  /** The virtual outbound listener's port (iptables redirects outbound traffic there). */
  outboundPort: number;
  /** The virtual inbound listener's port. */
  inboundPort: number;
}

export const DEFAULT_SIDECAR_OPTIONS: SidecarOptions = { outboundPolicy: 'ALLOW_ANY', outboundPort: OUTBOUND_CAPTURE_PORT, inboundPort: INBOUND_CAPTURE_PORT };

/** The proxy as the translation sees it (a ProxyInfo is one). */
export interface SidecarProxy {
  readonly namespace: string | undefined;
  readonly ip: string | undefined;
  readonly ips?: readonly string[];
  readonly labels: Readonly<Labels>;
  /** The proxy's locality (node.locality), for locality failover. */
  readonly locality?: { readonly region: string; readonly zone: string; readonly subZone: string } | undefined;
  /**
   * NONE: the pod has no iptables capture (Istio's interceptionMode NONE, node metadata
   * INTERCEPTION_MODE); its listeners are bound to ports for the app and its peers to call.
   */
  readonly interception?: 'NONE';
}

/** Whether iptables captures the proxy's traffic (every interception mode but NONE). */
export function captured(proxy: SidecarProxy): boolean {
  return proxy.interception !== 'NONE';
}

export const DEFAULT_NAMESPACE = 'default';

export function proxyNamespace(proxy: SidecarProxy): string {
  return proxy.namespace ?? DEFAULT_NAMESPACE;
}

/** The services a proxy sees (one per hostname, Istio's pick for its namespace), by hostname. */
export function visibleServices(mesh: MeshView, proxy: SidecarProxy): MeshService[] {
  return mesh.visibleServices(proxyNamespace(proxy));
}

/**
 * What a sidecar's outbound configuration is built from: the visible services its Sidecar
 * imports (all of them when no Sidecar applies; `listed`: those listeners and routes serve,
 * undefined for all), the ports a port-specific egress listener owns (only the hostnames it
 * imported are served there), and the Sidecar's outboundTrafficPolicy.
 */
export type { PortBind };

export interface SidecarView {
  services: MeshService[];
  listed: ReadonlySet<string> | undefined;
  portOwners: ReadonlyMap<number, ReadonlySet<string>>;
  /** The egress listeners on a Unix domain socket served (HTTP ones): the socket (`unix://…`) and the hostnames imported there. */
  sockets: ReadonlyMap<string, ReadonlySet<string>>;
  outboundPolicy: OutboundPolicy | undefined;
  /** The cluster of the Sidecar's egressProxy (`outbound|<port>|<subset>|<host>`, the host as written, as Istio names it). */
  egressCluster: string | undefined;
  /**
   * A port's own address, if its egress listener has one (model/sidecars' egressListenerAddress):
   * the port-specific listener's, else, for a port no such listener owns, the catch-all's.
   */
  bindOf(port: number): PortBind | undefined;
}

const NO_BIND = (): undefined => undefined;

export function sidecarView(mesh: MeshView, proxy: SidecarProxy, visible = visibleServices(mesh, proxy)): SidecarView {
  const scope = mesh.sidecarScope(proxyNamespace(proxy), proxy.labels);
  const capture = captured(proxy);
  if (!scope) {
    // Without capture, each port as the listener Istio imports everything with binds it.
    const loopback = capture ? undefined : egressListenerAddress({ port: undefined }, false);
    const bindOf = loopback ? (port: number) => bindAt(loopback, port) : NO_BIND;
    return { services: visible, listed: undefined, portOwners: new Map(), sockets: new Map(), outboundPolicy: undefined, egressCluster: undefined, bindOf };
  }
  const egress = scope.egressProxy;
  const egressCluster = egress?.port?.number !== undefined ? outboundClusterName(egress.port.number, egress.host, egress.subset) : undefined;
  const portBinds = new Map<number, PortBind>();
  for (const l of scope.egress) {
    if (l.port === undefined) continue;
    const a = egressListenerAddress(l, capture);
    if (a) portBinds.set(l.port, a);
  }
  const catchAll = scope.egress.find((l) => l.port === undefined && l.socketProtocol === undefined);
  const catchAllBind = catchAll && egressListenerAddress(catchAll, capture);
  const served = mesh.sidecarServices(scope, visible);
  const bindOf = portBinds.size === 0 && !catchAllBind ? NO_BIND : (port: number) => (served.portOwners.has(port) ? portBinds.get(port) : catchAllBind && bindAt(catchAllBind, port));
  return { ...served, outboundPolicy: scope.outboundPolicy, egressCluster, bindOf };
}

/** A visible service with the DestinationRule that applies to it from the proxy. */
export interface VisibleService {
  service: MeshService;
  rule: ReturnType<MeshView['destinationRuleFor']>;
}

/**
 * visibleServices, each with its DestinationRule: computed once per proxy and push, then shared
 * by clusters, endpoints and secrets.
 */
export function visibleDestinations(mesh: MeshView, proxy: SidecarProxy, services = visibleServices(mesh, proxy)): VisibleService[] {
  const ns = proxyNamespace(proxy);
  return services.map((service) => ({ service, rule: mesh.destinationRuleFor(service.hostname, ns, { ...proxy.labels }) }));
}

/** A service port with its service. */
export interface ServicePortRef {
  service: MeshService;
  port: MeshServicePort;
}
