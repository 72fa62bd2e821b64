// What a proxyless gRPC client sees: every visible service port with its ready endpoints, by
// the names it can be dialled by (the same endpoints a sidecar gets).
import type { ProxyInfo } from '../xds/proxy-info.js';
import { proxyNamespace, visibleServices, type MeshView } from './input.js';
import { outboundClusterName } from './names.js';
import type { ProxylessService } from './proxyless-grpc.js';
import { sidecarEndpoints } from './endpoints.js';

export function proxylessServices(mesh: MeshView, proxy: ProxyInfo): ProxylessService[] {
  const ns = proxyNamespace(proxy);
  const byCluster = new Map(sidecarEndpoints(mesh, proxy).map((cla) => [cla.cluster_name ?? '', cla]));
  const out: ProxylessService[] = [];
  for (const svc of visibleServices(mesh, proxy)) {
    if (svc.hostname.startsWith('*')) continue;
    const [name, svcNs] = svc.hostname.split('.');
    const aliases = svc.source === 'Kubernetes' ? [...(svcNs === ns ? [name] : []), `${name}.${svcNs}`, `${name}.${svcNs}.svc`] : [];
    for (const port of svc.ports) {
      const cla = byCluster.get(outboundClusterName(port.number, svc.hostname));
      const endpoints = (cla?.endpoints ?? []).flatMap((l) =>
        (l.lb_endpoints ?? []).map((e) => ({ address: e.endpoint?.address?.socket_address?.address ?? '', port: Number(e.endpoint?.address?.socket_address?.port_value ?? port.number) })),
      );
      out.push({ hostname: svc.hostname, port: port.number, aliases, endpoints: endpoints.filter((e) => e.address) });
    }
  }
  return out;
}
