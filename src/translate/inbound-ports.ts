// The ports of the proxy's own workload: every port of every Service of its namespace whose
// selector picks the proxy's labels, as the container port traffic arrives on (numeric
// targetPort, or the named port resolved through the proxy's own endpoint), with its protocol.
import { labelsMatch } from '../model/labels.js';
import type { MeshService } from '../model/mesh-services.js';
import { endpointPort } from './endpoints.js';
import { proxyNamespace, visibleServices, type MeshView, type SidecarProxy } from './input.js';

export interface InboundPort {
  /** The container port. */
  port: number;
  /** Istio's protocol name of the Service port (the first Service declaring it wins). */
  protocol: string;
  /** The Service host and port that declared it. */
  hostname: string;
  servicePort: number;
}

/** `services`: what the proxy sees (visibleServices), when already known. */
export function inboundPorts(mesh: MeshView, proxy: SidecarProxy, services: readonly MeshService[] = visibleServices(mesh, proxy)): InboundPort[] {
  const ns = proxyNamespace(proxy);
  const ips = new Set([proxy.ip, ...(proxy.ips ?? [])].filter((x): x is string => !!x));
  const byPort = new Map<number, InboundPort>();
  for (const svc of services) {
    if (svc.namespace !== ns || svc.source !== 'Kubernetes' || !svc.selector || Object.keys(svc.selector).length === 0) continue;
    if (!labelsMatch(svc.selector, { ...proxy.labels })) continue;
    const own = mesh.endpoints(svc).find((e) => ips.has(e.address));
    for (const p of svc.ports) {
      if (p.protocol === 'UDP') continue;
      const port = typeof p.targetPort === 'number' && p.targetPort > 0 ? p.targetPort : own ? endpointPort(own, p) : typeof p.targetPort === 'string' ? undefined : p.number;
      if (port === undefined || byPort.has(port)) continue;
      byPort.set(port, { port, protocol: p.protocol, hostname: svc.hostname, servicePort: p.number });
    }
  }
  return [...byPort.values()].sort((a, b) => a.port - b.port);
}
