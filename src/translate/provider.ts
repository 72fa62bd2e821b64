// The SnapshotProvider of the control plane: sidecars get the sidecar configuration, gateway
// (router) proxies the gateway configuration, proxyless gRPC clients (node metadata
// GENERATOR=grpc) Istio's grpc configuration; each translated on demand from the current mesh.
import type { ProxyInfo } from '../xds/proxy-info.js';
import type { Snapshot, SnapshotProvider } from '../xds/snapshot.js';
import { TypeUrl, type Secret } from '../xds/types.js';
import { gatewaySnapshot } from './gateway.js';
import type { GatewayMeshView } from './gateway-proxy.js';
import { DEFAULT_SIDECAR_OPTIONS, type SidecarOptions } from './input.js';
import { SidecarShare } from './outbound.js';
import { isProxyless, proxylessSnapshot } from './proxyless-grpc.js';
import { proxylessServices } from './proxyless-services.js';
import { pickTypes } from './resources.js';
import { sidecarSnapshot } from './snapshot.js';

const NO_SECRETS: ReadonlyMap<string, Secret> = new Map();

export class MeshSnapshotProvider implements SnapshotProvider {
  /** Sidecars alike share their outbound configuration (see outbound.ts). */
  private readonly share: SidecarShare;

  constructor(
    private readonly current: () => GatewayMeshView,
    private readonly options: Partial<SidecarOptions> = {},
  ) {
    this.share = new SidecarShare({ ...DEFAULT_SIDECAR_OPTIONS, ...options });
  }

  snapshot(proxy: ProxyInfo, types: ReadonlySet<TypeUrl>): Snapshot {
    // A proxy that proved no identity (the plaintext port) is never sent a Secret.
    if (!proxy.identity && types.has(TypeUrl.Secret)) {
      return { ...this.translate(proxy, new Set([...types].filter((t) => t !== TypeUrl.Secret))), [TypeUrl.Secret]: NO_SECRETS };
    }
    return this.translate(proxy, types);
  }

  private translate(proxy: ProxyInfo, types: ReadonlySet<TypeUrl>): Snapshot {
    const mesh = this.current();
    if (isProxyless(proxy)) {
      const all = proxylessSnapshot(proxylessServices(mesh, proxy));
      return pickTypes(types, Object.fromEntries(Object.entries(all).map(([t, m]) => [t, () => m])));
    }
    return proxy.kind === 'router' ? gatewaySnapshot(mesh, proxy, types) : sidecarSnapshot(mesh, proxy, this.options, types, this.share);
  }
}
