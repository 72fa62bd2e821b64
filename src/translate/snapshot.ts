// A sidecar's configuration: what the xDS server sends one proxy, by type and name, built only
// for the types asked for (provider.ts picks sidecar, gateway or proxyless per proxy). The
// outbound side comes from outbound.ts (shared between proxies alike when a SidecarShare is
// given); the inbound side (the pod's own ports) is the proxy's alone.
import type { Snapshot } from '../xds/snapshot.js';
import { TypeUrl } from '../xds/types.js';
import { inboundPorts } from './inbound-ports.js';
import { DEFAULT_SIDECAR_OPTIONS, proxyNamespace, type MeshView, type SidecarOptions, type SidecarProxy } from './input.js';
import type { InboundMtls } from './listeners-inbound.js';
import { listenerAccessLogs } from './access-log.js';
import { outboundConfig, outboundScope, type InboundAccessLogs, type SidecarShare } from './outbound.js';
import { once, pickTypes } from './resources.js';
import { workloadSecurity } from './workload-security.js';

const ALL = new Set<TypeUrl>(Object.values(TypeUrl));

/**
 * Listeners, routes, clusters, endpoints and secrets for one sidecar (only the types asked for).
 * With a `share`, the share's options apply (the provider gives both the same).
 */
export function sidecarSnapshot(mesh: MeshView, proxy: SidecarProxy, options: Partial<SidecarOptions> = {}, types: ReadonlySet<TypeUrl> = ALL, share?: SidecarShare): Snapshot {
  const opts: SidecarOptions = { ...DEFAULT_SIDECAR_OPTIONS, ...options };
  const out = share ? share.outbound(mesh, proxy) : outboundConfig(mesh, outboundScope(mesh, proxy).proxy, opts);
  const inbound = once(() => inboundPorts(mesh, proxy, out.services()));
  // The workload's own PeerAuthentication decides what its inbound ports accept.
  const mtls = once((): InboundMtls => ({ ...mesh.mtlsFor(proxyNamespace(proxy), { ...proxy.labels }), trustDomains: mesh.trustDomains }));
  // ...and its AuthorizationPolicies and RequestAuthentications who may call it.
  const security = once(() => workloadSecurity(mesh, proxyNamespace(proxy), { ...proxy.labels }));
  // ...and its Telemetry what its inbound listener logs (the workload as server).
  const logs = once((): InboundAccessLogs => {
    const resolved = mesh.accessLogsFor(proxyNamespace(proxy), { ...proxy.labels }, 'SERVER');
    return { key: JSON.stringify(resolved), entries: once(() => listenerAccessLogs(resolved)) };
  });
  return pickTypes(types, {
    [TypeUrl.Cluster]: () => out.withInbound(inbound(), mtls(), security(), logs()).clusters,
    [TypeUrl.Endpoint]: () => out.endpoints(proxy.locality),
    [TypeUrl.Listener]: () => out.withInbound(inbound(), mtls(), security(), logs()).listeners,
    [TypeUrl.Route]: () => out.withInbound(inbound(), mtls(), security(), logs()).routes,
    [TypeUrl.Secret]: () => out.secrets(),
  });
}
