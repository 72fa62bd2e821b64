// Host names as Istio reads them: short names resolved in the object's namespace, `*` and
// `*.suffix` wildcards (a suffix match: `*.example.com` covers `a.b.example.com`, not
// `example.com`), specificity ordering, and the `ns/host` form of Gateway server hosts.

export const DEFAULT_DOMAIN = 'cluster.local';
export const MESH_GATEWAY = 'mesh';

export function isWildcard(host: string): boolean {
  return host.startsWith('*');
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpAddress(s: string): boolean {
  if (IPV4.test(s)) return true;
  // IPv6: hex groups and colons, at least two colons, optionally a trailing dotted quad.
  return /^[0-9a-fA-F:]+(:\d+\.\d+\.\d+\.\d+)?$/.test(s) && (s.match(/:/g) ?? []).length >= 2;
}

/**
 * Istio's rule: a name without a dot is a short name and becomes `<name>.<namespace>.svc.<domain>`;
 * any name with a dot (`reviews.prod` included) is taken as written, as are `*` and IP addresses.
 */
export function resolveHost(host: string, namespace: string, domain = DEFAULT_DOMAIN): string {
  if (host === '' || host === '*' || isIpAddress(host) || host.includes('.')) return host;
  let out = host;
  if (namespace) out += `.${namespace}`;
  if (domain) out += `.svc.${domain}`;
  return out;
}

/** True when the two names overlap: equal, or one wildcard covers the other (either way). */
export function hostMatches(a: string, b: string): boolean {
  const aw = isWildcard(a);
  const bw = isWildcard(b);
  if (aw && bw) return a.length < b.length ? b.slice(1).endsWith(a.slice(1)) : a.slice(1).endsWith(b.slice(1));
  if (aw) return b.endsWith(a.slice(1));
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

/** True when every name `a` covers is also covered by `b` (`a` is a subset of `b`). */
export function hostSubsetOf(a: string, b: string): boolean {
  const aw = isWildcard(a);
  const bw = isWildcard(b);
  if (aw && bw) return a.length >= b.length && a.slice(1).endsWith(b.slice(1));
  if (aw) return false;
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

/**
 * Sort order of host names, most specific first: concrete names before wildcards, longer before
 * shorter, then alphabetical (Istio's `host.Names` order).
 */
export function compareHostSpecificity(a: string, b: string): number {
  const aw = isWildcard(a);
  const bw = isWildcard(b);
  if (aw !== bw) return aw ? 1 : -1;
  if (a.length !== b.length) return b.length - a.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True when `a` is strictly more specific than `b`. */
export function moreSpecificHost(a: string, b: string): boolean {
  return compareHostSpecificity(a, b) < 0;
}

/**
 * Which of `candidates` applies to `needle`: an exact match first, otherwise the most specific
 * wildcard that covers it (Istio's MostSpecificHostMatch). A wildcard needle matches an equal
 * wildcard, or a broader one.
 */
export function mostSpecificHostMatch(needle: string, candidates: Iterable<string>): string | undefined {
  const suffix = isWildcard(needle) ? needle.slice(1) : needle;
  let best: string | undefined;
  for (const c of candidates) {
    if (c === needle) return c;
    if (!isWildcard(c) || !suffix.endsWith(c.slice(1))) continue;
    if (best === undefined || moreSpecificHost(c, best)) best = c;
  }
  return best;
}

/**
 * The names covered by both lists, each overlap given as the narrower of the two names
 * (Istio's `Names.Intersection`): `["*.example.com"] ∩ ["a.example.com"]` is `["a.example.com"]`.
 */
export function intersectHosts(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  for (const x of a) {
    for (const y of b) {
      const pick = hostSubsetOf(x, y) ? x : hostSubsetOf(y, x) ? y : undefined;
      if (pick !== undefined && !out.includes(pick)) out.push(pick);
    }
  }
  return out;
}

/**
 * A Gateway server host `ns/host`, `./host`, `*\/host` or `host`, split into the namespace
 * whose VirtualServices may bind to it (`*` for any) and the host name.
 */
export function parseServerHost(entry: string, gatewayNamespace: string): { namespace: string; host: string } {
  const slash = entry.indexOf('/');
  if (slash < 0) return { namespace: '*', host: entry };
  const ns = entry.slice(0, slash);
  return { namespace: ns === '.' ? gatewayNamespace : ns, host: entry.slice(slash + 1) };
}

/** The server hosts a VirtualService of `vsNamespace` may bind to (Istio's NamesForNamespace). */
export function serverHostsFor(serverHosts: readonly string[], gatewayNamespace: string, vsNamespace: string): string[] {
  const out: string[] = [];
  for (const entry of serverHosts) {
    const { namespace, host } = parseServerHost(entry, gatewayNamespace);
    if (namespace === '*' || namespace === vsNamespace) out.push(host);
  }
  return out;
}

/**
 * A gateway reference from a VirtualService, as `<namespace>/<name>`: `gw` and `./gw` are in the
 * VirtualService's namespace, `ns/gw` is taken as written, and the legacy `gw.ns.svc.cluster.local`
 * (or `gw.ns`) form becomes `ns/gw`. `mesh` stays `mesh`.
 */
export function resolveGatewayName(ref: string, namespace: string): string {
  if (ref === MESH_GATEWAY) return ref;
  const slash = ref.indexOf('/');
  if (slash >= 0) return ref.slice(0, slash) === '.' ? `${namespace}/${ref.slice(slash + 1)}` : ref;
  const dot = ref.indexOf('.');
  if (dot < 0) return `${namespace}/${ref}`;
  const rest = ref.slice(dot + 1);
  const next = rest.indexOf('.');
  return `${next < 0 ? rest : rest.slice(0, next)}/${ref.slice(0, dot)}`;
}
