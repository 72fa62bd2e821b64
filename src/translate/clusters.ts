// The clusters of a sidecar: `outbound|<port>||<host>` for every port of every service the
// proxy sees and `outbound|<port>|<subset>|<host>` for every DestinationRule subset (EDS over
// ADS for Kubernetes Services and STATIC ServiceEntries, DNS for DNS ServiceEntries, original
// destination for headless services and resolution NONE); PassthroughCluster, BlackHoleCluster,
// InboundPassthroughCluster; and `inbound|<port>||` for each port of the proxy's own workload.
import type { MeshService, MeshServicePort } from '../model/mesh-services.js';
import type { Cluster } from '../xds/types.js';
import type { ConnectionPoolSettings } from '../api/destination-rule.js';
import { connectionPoolFields, DEFAULT_CONNECT_TIMEOUT, isPassthroughLb, policyFields } from './cluster-settings.js';
import { endpointsFor } from './endpoints.js';
import { visibleDestinations, type MeshView, type SidecarProxy } from './input.js';
import { inboundPorts, type InboundPort } from './inbound-ports.js';
import { BLACKHOLE_CLUSTER, inboundClusterName, INBOUND_BIND_ADDRESS, INBOUND_PASSTHROUGH_CLUSTER, outboundClusterName, PASSTHROUGH_CLUSTER } from './names.js';
import { isHttp2 } from '../model/protocol.js';
import { clusterPolicy } from './traffic-policy.js';
import { meshSni, meshTlsFields } from './mtls.js';
import { spiffeId } from '../api/mesh-identity.js';

import { ADS_CONFIG_SOURCE } from './config-source.js';

export function passthroughCluster(): Cluster {
  return { name: PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: DEFAULT_CONNECT_TIMEOUT };
}

export function blackholeCluster(): Cluster {
  return { name: BLACKHOLE_CLUSTER, type: 'STATIC', connect_timeout: DEFAULT_CONNECT_TIMEOUT };
}

/** Inbound traffic to a port no Service declares: to the original destination, from 127.0.0.6. */
export function inboundPassthroughCluster(): Cluster {
  return {
    name: INBOUND_PASSTHROUGH_CLUSTER,
    type: 'ORIGINAL_DST',
    lb_policy: 'CLUSTER_PROVIDED',
    connect_timeout: DEFAULT_CONNECT_TIMEOUT,
    upstream_bind_config: { source_address: { address: INBOUND_BIND_ADDRESS, port_value: 0 } },
  };
}

/** The app in the same pod: 127.0.0.1:<port>, connecting from 127.0.0.6 so iptables does not capture it again. */
export function inboundCluster(p: InboundPort): Cluster {
  const name = inboundClusterName(p.port);
  const target = p.endpoint ?? { address: '127.0.0.1', port: p.port };
  const address = 'pipe' in target ? { pipe: { path: target.pipe } } : { socket_address: { address: target.address, port_value: target.port } };
  // Istio's inbound source address (127.0.0.6) tells the app's traffic from the proxy's; it binds
  // an IPv4 loopback connection only.
  const bind = 'address' in target && target.address === '127.0.0.1' ? { upstream_bind_config: { source_address: { address: INBOUND_BIND_ADDRESS, port_value: 0 } } } : {};
  return {
    name,
    type: 'STATIC',
    lb_policy: 'ROUND_ROBIN',
    // Always: Istio gives every inbound cluster its connection pool, the defaults when none is set
    // (connect timeout, circuit breakers at their maximum rather than Envoy's 1,024).
    ...inboundPoolFields(p.pool ?? {}),
    ...bind,
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address } }] }] },
  };
}

/**
 * A connection pool on an inbound cluster (the Sidecar's, else the DestinationRule's): circuit
 * breakers, connect timeout, keepalive and HTTP connection limits, as on an outbound one; an
 * HTTP/2 upgrade is an outbound matter (Istio applies h2UpgradePolicy to outbound clusters only).
 */
function inboundPoolFields(pool: ConnectionPoolSettings): ReturnType<typeof connectionPoolFields> {
  const http = pool.http ? { ...pool.http, h2UpgradePolicy: undefined } : undefined;
  return connectionPoolFields({ ...pool, http }, false);
}

/** One outbound cluster: a service port, maybe a subset, with the DestinationRule's policy. */
export function outboundCluster(mesh: MeshView, service: MeshService, port: MeshServicePort, spec: Parameters<typeof clusterPolicy>[0], subset?: string): Cluster {
  const name = outboundClusterName(port.number, service.hostname, subset);
  const policy = clusterPolicy(spec, port.number, subset);
  const fields = policyFields(policy, service.hostname, isHttp2(port.protocol));
  const peers = meshPeers(mesh, service);
  const base: Cluster = { name, ...fields, ...meshTlsFields(policy.tls, meshSni(port.number, service.hostname, subset), peers.ids, mesh.trustDomains, peers.disabledOn(port)) };
  if (service.resolution === 'NONE' || isPassthroughLb(policy.loadBalancer)) {
    return { ...base, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' };
  }
  if (service.resolution === 'DNS' || service.resolution === 'DNS_ROUND_ROBIN') {
    const labels = subset ? (spec?.subsets ?? []).find((s) => s.name === subset)?.labels : undefined;
    return {
      ...base,
      type: service.resolution === 'DNS' ? 'STRICT_DNS' : 'LOGICAL_DNS',
      dns_lookup_family: 'V4_ONLY',
      load_assignment: endpointsFor(mesh, service, port, labels, name),
    };
  }
  return { ...base, type: 'EDS', eds_cluster_config: { eds_config: ADS_CONFIG_SOURCE, service_name: name } };
}

/** What a client's mTLS needs to know of a service's servers. */
interface MeshPeers {
  /** The SPIFFE IDs its endpoints may present (their pods' service accounts), sorted. */
  readonly ids: readonly string[];
  /**
   * Whether its workloads' PeerAuthentication is DISABLE on the port: auto mTLS stays off
   * towards them (as Istio's client does), they would not accept it.
   */
  disabledOn(port: MeshServicePort): boolean;
}

/**
 * Once per mesh snapshot and service, not per port, subset and proxy scope: a Mesh outlives no
 * change but an endpoint change that keeps these identities (peersUnchanged, MeshSource), so
 * neither do these.
 */
const peersByMesh = new WeakMap<MeshView, Map<MeshService, MeshPeers>>();

/** A service across mesh snapshots (each snapshot has its own MeshService objects). */
export const serviceKey = (s: MeshService): string => `${s.source} ${s.namespace} ${s.hostname}`;

/** The identities in the clusters this snapshot built, by serviceKey (none built: empty). */
export function builtPeerIds(mesh: MeshView): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  for (const [service, peers] of peersByMesh.get(mesh) ?? []) out.set(serviceKey(service), peers.ids);
  return out;
}

/** The SPIFFE IDs a service's endpoints may present, as the registry has them now. */
function peerIds(mesh: MeshView, service: MeshService): string[] {
  const ids = new Set<string>();
  // A server may hold an identity of any trust domain of the bundle (Istio expands SANs alike).
  for (const e of mesh.endpoints(service)) {
    if (!e.serviceAccount) continue;
    for (const trustDomain of mesh.trustDomains) ids.add(spiffeId({ trustDomain, namespace: service.namespace, serviceAccount: e.serviceAccount }));
  }
  return [...ids].sort();
}

/**
 * Whether the clusters last built for `service` still hold its endpoints' identities: an
 * endpoint change that keeps them needs no new clusters. Last built means by this snapshot, or
 * else as `earlier` remembers from the snapshots before it (a push of listeners and routes
 * alone builds no clusters, and the proxies keep the older ones); never built, true.
 */
export function peersUnchanged(mesh: MeshView, service: MeshService, earlier?: ReadonlyMap<string, readonly string[]>): boolean {
  const ids = peersByMesh.get(mesh)?.get(service)?.ids ?? earlier?.get(serviceKey(service));
  if (!ids) return true;
  const now = peerIds(mesh, service);
  return now.length === ids.length && now.every((id, i) => id === ids[i]);
}

export function meshPeers(mesh: MeshView, service: MeshService): MeshPeers {
  let byService = peersByMesh.get(mesh);
  if (!byService) peersByMesh.set(mesh, (byService = new Map()));
  let peers = byService.get(service);
  if (!peers) {
    const mtls = service.source === 'Kubernetes' && service.selector ? mesh.mtlsFor(service.namespace, service.selector) : undefined;
    const disabledOn = (port: MeshServicePort): boolean => {
      if (!mtls) return false;
      const target = typeof port.targetPort === 'number' && port.targetPort > 0 ? port.targetPort : port.number;
      return (mtls.ports.get(target) ?? mtls.mode) === 'DISABLE';
    };
    byService.set(service, (peers = { ids: peerIds(mesh, service), disabledOn }));
  }
  return peers;
}

/** Every outbound cluster the proxy needs, by name. */
export function outboundClusters(mesh: MeshView, proxy: SidecarProxy, visible = visibleDestinations(mesh, proxy)): Cluster[] {
  const out: Cluster[] = [];
  for (const { service: svc, rule: dr } of visible) {
    if (svc.hostname.startsWith('*') && svc.resolution !== 'NONE') continue; // a wildcard host can only pass through
    for (const port of svc.ports) {
      if (port.protocol === 'UDP') continue;
      out.push(outboundCluster(mesh, svc, port, dr?.spec));
      for (const s of dr?.spec.subsets ?? []) out.push(outboundCluster(mesh, svc, port, dr?.spec, s.name));
    }
  }
  return out;
}

/** All clusters of a sidecar: outbound, the special ones, and inbound. */
export function sidecarClusters(mesh: MeshView, proxy: SidecarProxy, visible = visibleDestinations(mesh, proxy), inbound = inboundPorts(mesh, proxy)): Cluster[] {
  return [...outboundClusters(mesh, proxy, visible), passthroughCluster(), blackholeCluster(), inboundPassthroughCluster(), ...inbound.map(inboundCluster)];
}
