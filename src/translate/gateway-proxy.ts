// What makes a proxy a gateway of some Gateways: the Gateways whose selector its labels match,
// and the port it binds for each server port. Shared by the HTTP(S) servers (gateway.ts) and the
// TLS passthrough servers (gateway-passthrough.ts).
import type { Mesh } from '../model/mesh.js';
import { labelsMatch } from '../model/labels.js';
import type { MeshView, SidecarProxy } from './input.js';

export type GatewayMeshView = MeshView & Pick<Mesh, 'gateways' | 'gatewayRoutes' | 'tlsSecret' | 'virtualServices'>;

export const gatewayListenerName = (port: number): string => `0.0.0.0_${port}`;

/** The Gateways that select this proxy (every label of the selector on the proxy). */
export function gatewaysFor(mesh: GatewayMeshView, proxy: SidecarProxy): ReturnType<Mesh['gateways']> {
  return mesh.gateways().filter((g) => {
    const sel = g.spec.selector ?? {};
    return Object.keys(sel).length > 0 && labelsMatch(sel, proxy.labels);
  });
}

/**
 * The port the proxy binds for a Gateway server port: as Istio, the targetPort of a Service of
 * the gateway's pods that exposes that port (a chart maps 80 to 8080 so the proxy need not bind
 * a privileged port), else the port itself. Scans the services once per proxy.
 */
export function listenPorts(mesh: GatewayMeshView, proxy: SidecarProxy): (serverPort: number) => number {
  const targets = new Map<number, number>();
  for (const svc of mesh.services().all()) {
    if (svc.source !== 'Kubernetes' || svc.namespace !== proxy.namespace || !svc.selector || Object.keys(svc.selector).length === 0) continue;
    if (!labelsMatch(svc.selector, proxy.labels)) continue;
    for (const p of svc.ports) if (typeof p.targetPort === 'number' && !targets.has(p.number)) targets.set(p.number, p.targetPort);
  }
  return (serverPort) => targets.get(serverPort) ?? serverPort;
}
