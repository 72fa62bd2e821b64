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
