// The match attributes HTTP, TLS and TCP routes share: whether a route's match can apply to
// traffic from this proxy on this port (port, sourceLabels, sourceNamespace, gateways `mesh`).
import type { Labels } from '../model/http-routes.js';
import { labelsMatch } from '../model/labels.js';
import { proxyNamespace, type SidecarProxy } from './input.js';

export interface SourceMatch {
  port?: number;
  sourceLabels?: Labels;
  sourceNamespace?: string;
  gateways?: string[];
}

export function sourceMatches(m: SourceMatch, proxy: SidecarProxy, port: number): boolean {
  if (m.port !== undefined && m.port !== port) return false;
  if (m.sourceLabels && !labelsMatch(m.sourceLabels, { ...proxy.labels })) return false;
  if (m.sourceNamespace && m.sourceNamespace !== proxyNamespace(proxy)) return false;
  if (m.gateways && m.gateways.length > 0 && !m.gateways.includes('mesh')) return false;
  return true;
}

/**
 * Istio's test for an HTTP match (sourceMatchHTTP, with translateRoute's port check): a match that
 * names gateways applies to the proxies answering to one of them (`mesh` for sidecars, the
 * Gateway's `ns/name` for a gateway proxy) whatever their labels; one that names none, by
 * sourceLabels and sourceNamespace.
 */
export function httpSourceMatches(m: SourceMatch, proxy: SidecarProxy, port: number, gateways: readonly string[]): boolean {
  if (m.port && m.port !== port) return false;
  if (m.gateways && m.gateways.length > 0) return m.gateways.some((g) => gateways.includes(g));
  if (m.sourceLabels && !labelsMatch(m.sourceLabels, { ...proxy.labels })) return false;
  return !m.sourceNamespace || m.sourceNamespace === proxyNamespace(proxy);
}
