// Delegate VirtualServices (Istio's route delegation): a root route `{match, delegate}` stands
// for the delegate's HTTP routes, each with its matches narrowed by the root's. One level
// deep, as Istio; a delegate that is missing, or has hosts of its own, contributes nothing.
// Destinations of delegated routes resolve in the delegate's namespace.
import type { StringMatch } from '../api/common.js';
import type { HTTPMatchRequest, HTTPRoute } from '../api/virtual-service.js';
import type { ResolvedVirtualService } from '../model/virtual-services.js';
import type { MeshView } from './input.js';

export interface ScopedHttpRoute {
  route: HTTPRoute;
  /** The namespace its destinations resolve in. */
  namespace: string;
}

const sameMatch = (a: StringMatch, b: StringMatch): boolean => a.exact === b.exact && a.prefix === b.prefix && a.regex === b.regex;

/** The delegate's uri must stay inside the root's (Istio's rule): same match, or a narrower prefix/exact under a root prefix. */
function mergeUri(root: StringMatch | undefined, del: StringMatch | undefined): { ok: boolean; uri?: StringMatch } {
  if (!root) return { ok: true, uri: del };
  if (!del) return { ok: true, uri: root };
  if (sameMatch(root, del)) return { ok: true, uri: del };
  if (root.prefix !== undefined && (del.prefix ?? del.exact)?.startsWith(root.prefix)) return { ok: true, uri: del };
  return { ok: false };
}

function mergeMaps(a: Record<string, StringMatch> | undefined, b: Record<string, StringMatch> | undefined): { ok: boolean; map?: Record<string, StringMatch> } {
  if (!a) return { ok: true, map: b };
  if (!b) return { ok: true, map: a };
  for (const [k, v] of Object.entries(b)) if (a[k] && !sameMatch(a[k], v)) return { ok: false };
  return { ok: true, map: { ...a, ...b } };
}

function mergeOne(a: StringMatch | undefined, b: StringMatch | undefined): { ok: boolean; m?: StringMatch } {
  if (a && b && !sameMatch(a, b)) return { ok: false };
  return { ok: true, m: b ?? a };
}

/** A root match and a delegate match as one, or undefined when they contradict each other. */
export function mergeMatch(root: HTTPMatchRequest, del: HTTPMatchRequest): HTTPMatchRequest | undefined {
  const uri = mergeUri(root.uri, del.uri);
  const headers = mergeMaps(root.headers, del.headers);
  const without = mergeMaps(root.withoutHeaders, del.withoutHeaders);
  const query = mergeMaps(root.queryParams, del.queryParams);
  const method = mergeOne(root.method, del.method);
  const authority = mergeOne(root.authority, del.authority);
  const scheme = mergeOne(root.scheme, del.scheme);
  if (![uri, headers, without, query, method, authority, scheme].every((x) => x.ok)) return undefined;
  const out: HTTPMatchRequest = { ...root, ...del };
  const set = <K extends keyof HTTPMatchRequest>(k: K, v: HTTPMatchRequest[K] | undefined) => {
    if (v === undefined) delete out[k];
    else out[k] = v;
  };
  set('uri', uri.uri);
  set('headers', headers.map);
  set('withoutHeaders', without.map);
  set('queryParams', query.map);
  set('method', method.m);
  set('authority', authority.m);
  set('scheme', scheme.m);
  // What only the root may decide: where the traffic comes from.
  set('port', root.port ?? del.port);
  set('sourceLabels', root.sourceLabels ?? del.sourceLabels);
  set('sourceNamespace', root.sourceNamespace ?? del.sourceNamespace);
  set('gateways', root.gateways ?? del.gateways);
  set('name', [root.name, del.name].filter(Boolean).join('.') || undefined);
  return out;
}

function mergeMatches(root: HTTPMatchRequest[] | undefined, del: HTTPMatchRequest[] | undefined): HTTPMatchRequest[] | undefined {
  if (!root || root.length === 0) return del;
  if (!del || del.length === 0) return root;
  const out: HTTPMatchRequest[] = [];
  for (const r of root) for (const d of del) {
    const m = mergeMatch(r, d);
    if (m) out.push(m);
  }
  return out;
}

/** The HTTP routes of a VirtualService with delegations expanded, each with its namespace. */
export function expandDelegates(mesh: MeshView, vs: ResolvedVirtualService): ScopedHttpRoute[] {
  const ns = vs.config.namespace;
  const out: ScopedHttpRoute[] = [];
  for (const r of vs.config.spec.http ?? []) {
    if (!r.delegate) {
      out.push({ route: r, namespace: ns });
      continue;
    }
    const d = r.delegate.name ? mesh.virtualService(r.delegate.namespace || ns, r.delegate.name) : undefined;
    if (!d || (d.config.spec.hosts ?? []).length > 0) continue;
    for (const dr of d.config.spec.http ?? []) {
      if (dr.delegate) continue;
      const match = mergeMatches(r.match, dr.match);
      if (match && match.length === 0) continue;
      out.push({ route: { ...dr, ...(match ? { match } : {}) }, namespace: d.config.namespace });
    }
  }
  return out;
}
