// VirtualServices resolved as Istio reads them: hosts and destinations as FQDNs in the object's
// namespace, gateway references as `ns/name` (`mesh` when none are given), and which of several
// VirtualServices for one host a sidecar uses (the first in Istio's order wins: private to the
// client's namespace, then exported to it by name, then public; oldest first within each).
import type { Destination, VirtualServiceSpec } from '../api/virtual-service.js';
import type { Config } from './config-store.js';
import { compareByAge, refOf, type ConfigRef } from './config-order.js';
import { DEFAULT_DOMAIN, isWildcard, MESH_GATEWAY, mostSpecificHostMatch, resolveGatewayName, resolveHost } from './hosts.js';
import { isVisibleTo, namedNamespaces, visibilityOf, visibilityRank, type Visibility } from './visibility.js';

export type VirtualServiceConfig = Config<VirtualServiceSpec>;

export interface ResolvedVirtualService {
  config: VirtualServiceConfig;
  /** spec.hosts resolved to FQDNs, index for index. */
  hosts: string[];
  /** spec.gateways resolved to `ns/name` or `mesh`; `["mesh"]` when the field is empty. */
  gateways: string[];
  visibility: Visibility;
}

export function resolveVirtualService(config: VirtualServiceConfig, opts: { domain?: string; defaultExportTo: readonly string[] }): ResolvedVirtualService {
  const spec = config.spec ?? {};
  const gateways = spec.gateways && spec.gateways.length > 0 ? spec.gateways : [MESH_GATEWAY];
  return {
    config,
    hosts: (spec.hosts ?? []).map((h) => resolveHost(h, config.namespace, opts.domain ?? DEFAULT_DOMAIN)),
    gateways: gateways.map((g) => resolveGatewayName(g, config.namespace)),
    visibility: visibilityOf(spec.exportTo, config.namespace, opts.defaultExportTo),
  };
}

export function boundToMesh(vs: ResolvedVirtualService): boolean {
  return vs.gateways.includes(MESH_GATEWAY);
}

/** One destination a VirtualService sends (or mirrors) traffic to, with its field path. */
export interface DestinationRef {
  /** e.g. `spec.http[0].route[1].destination`, `spec.http[0].mirror`. */
  path: string;
  /** Resolved to an FQDN in the VirtualService's namespace. */
  host: string;
  subset: string | undefined;
  port: number | undefined;
}

export function destinationsOf(config: VirtualServiceConfig, domain = DEFAULT_DOMAIN): DestinationRef[] {
  const spec = config.spec ?? {};
  const out: DestinationRef[] = [];
  const add = (path: string, d: Destination | undefined): void => {
    if (!d || typeof d.host !== 'string') return;
    out.push({ path, host: resolveHost(d.host, config.namespace, domain), subset: d.subset || undefined, port: d.port?.number });
  };
  (spec.http ?? []).forEach((r, i) => {
    (r.route ?? []).forEach((rd, j) => add(`spec.http[${i}].route[${j}].destination`, rd.destination));
    add(`spec.http[${i}].mirror`, r.mirror);
    (r.mirrors ?? []).forEach((m, j) => add(`spec.http[${i}].mirrors[${j}].destination`, m.destination));
  });
  (spec.tls ?? []).forEach((r, i) => (r.route ?? []).forEach((rd, j) => add(`spec.tls[${i}].route[${j}].destination`, rd.destination)));
  (spec.tcp ?? []).forEach((r, i) => (r.route ?? []).forEach((rd, j) => add(`spec.tcp[${i}].route[${j}].destination`, rd.destination)));
  return out;
}

/** Istio's order of the VirtualServices bound to `gateway` (`mesh` for sidecars) as seen from `client`. */
export function orderedFor(vses: readonly ResolvedVirtualService[], gateway: string, client: string): ResolvedVirtualService[] {
  const ranked: { vs: ResolvedVirtualService; rank: number }[] = [];
  for (const vs of vses) {
    if (!vs.gateways.includes(gateway)) continue;
    const rank = visibilityRank(vs.visibility, vs.config.namespace, client);
    if (rank !== undefined) ranked.push({ vs, rank });
  }
  return ranked.sort((a, b) => a.rank - b.rank || compareByAge(a.vs.config, b.vs.config)).map((r) => r.vs);
}

/** For sidecars in `client`: each host and the one VirtualService whose routes serve it. */
export function sidecarHostOwners(vses: readonly ResolvedVirtualService[], client: string): Map<string, ResolvedVirtualService> {
  const owners = new Map<string, ResolvedVirtualService>();
  for (const vs of orderedFor(vses, MESH_GATEWAY, client)) {
    for (const h of vs.hosts) if (!owners.has(h)) owners.set(h, vs);
  }
  return owners;
}

/** Of the host owners of one client namespace, the one for `host`: exact host, else the most specific wildcard. */
export function ownerOf(owners: ReadonlyMap<string, ResolvedVirtualService>, host: string): ResolvedVirtualService | undefined {
  const exact = owners.get(host);
  if (exact) return exact;
  const key = mostSpecificHostMatch(host, [...owners.keys()].filter(isWildcard));
  return key === undefined ? undefined : owners.get(key);
}

/** The VirtualService a sidecar in `client` applies to traffic for `host` (exact host, else the most specific wildcard). */
export function sidecarVirtualServiceFor(vses: readonly ResolvedVirtualService[], host: string, client: string): ResolvedVirtualService | undefined {
  return ownerOf(sidecarHostOwners(vses, client), host);
}

/** A host of a VirtualService that another one serves instead, for sidecars in some namespaces. */
export interface Shadowing {
  hostIndex: number;
  host: string;
  by: ConfigRef;
  /** Why `by` wins: it is older, or it is exported specifically to the client namespace (private to it, or named). */
  reason: 'older' | 'exported-closer';
  /** The client namespaces where this happens, sorted; `everywhere` when it holds in every namespace that sees the VirtualService. */
  namespaces: string[];
  /** Also in every namespace no exportTo names (the rival is public there). */
  otherNamespaces: boolean;
  everywhere: boolean;
}

// A namespace name no object can carry: stands for "any namespace no exportTo names".
const ANY_OTHER = ' any-other ';

/** The hosts of `vs` that sidecars take from another VirtualService, and where. */
export function shadowingOf(vs: ResolvedVirtualService, all: readonly ResolvedVirtualService[]): Shadowing[] {
  if (!boundToMesh(vs)) return [];
  const out: Shadowing[] = [];
  const me = vs.config;
  vs.hosts.forEach((host, hostIndex) => {
    if (vs.hosts.indexOf(host) !== hostIndex) return;
    const rivals = all.filter((o) => o.config !== me && !(o.config.namespace === me.namespace && o.config.name === me.name) && boundToMesh(o) && o.hosts.includes(host));
    if (rivals.length === 0) return;
    const candidates = [vs, ...rivals];
    const clients = [...namedNamespaces(...candidates.map((c) => c.visibility)), ...candidates.map((c) => c.config.namespace), ANY_OTHER];
    const seen = new Set<string>();
    const lost = new Map<string, { winner: ResolvedVirtualService; reason: Shadowing['reason']; namespaces: string[] }>();
    let visibleIn = 0;
    for (const client of clients) {
      if (seen.has(client)) continue;
      seen.add(client);
      if (!isVisibleTo(vs.visibility, client)) continue;
      visibleIn++;
      const winner = orderedFor(candidates, MESH_GATEWAY, client)[0];
      if (!winner || winner === vs) continue;
      const closer = (visibilityRank(winner.visibility, winner.config.namespace, client) ?? 3) < (visibilityRank(vs.visibility, me.namespace, client) ?? 3);
      const reason = closer ? 'exported-closer' : 'older';
      const key = `${winner.config.namespace}/${winner.config.name}/${reason}`;
      const entry = lost.get(key) ?? { winner, reason, namespaces: [] };
      entry.namespaces.push(client);
      lost.set(key, entry);
    }
    for (const { winner, reason, namespaces } of lost.values()) {
      out.push({
        hostIndex,
        host,
        by: refOf(winner.config),
        reason,
        namespaces: namespaces.filter((n) => n !== ANY_OTHER).sort(),
        otherNamespaces: namespaces.includes(ANY_OTHER),
        everywhere: namespaces.length === visibleIn,
      });
    }
  });
  return out;
}
