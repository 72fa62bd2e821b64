// `trellisctl proxy-status`: each connected proxy and, per xDS type, the version it has ACKed
// (and how many resources), what is still in flight, and its last NACK.
import { proxyName, type SyncStatus } from './control-plane.js';
import { age, clip, table } from './table.js';

const PREFIX = 'type.googleapis.com/';
export const STATUS_TYPES = [
  ['CDS', `${PREFIX}envoy.config.cluster.v3.Cluster`],
  ['LDS', `${PREFIX}envoy.config.listener.v3.Listener`],
  ['EDS', `${PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`],
  ['RDS', `${PREFIX}envoy.config.route.v3.RouteConfiguration`],
] as const;

const SHORT: Record<string, string> = Object.fromEntries([...STATUS_TYPES.map(([s, t]) => [t, s]), [`${PREFIX}envoy.extensions.transport_sockets.tls.v3.Secret`, 'SDS']]);

export const shortType = (typeUrl: string): string => SHORT[typeUrl] ?? typeUrl.slice(typeUrl.lastIndexOf('.') + 1);

/**
 * One type's cell: "VERSION (N)" once ACKed (N resources held), "NOT ACKED" before the first
 * ACK, "-" when no stream of the proxy asks for the type; "+ sending" while a newer response
 * waits for its ACK, "+ N rejected" while resources are held back after a NACK.
 */
export function typeCell(p: SyncStatus, typeUrl: string): string {
  // A proxy may have several streams (per-type streams, a hot restart): the newest one counts.
  const states = p.streams
    .slice()
    .sort((a, b) => b.openedAt.localeCompare(a.openedAt))
    .flatMap((s) => s.types.filter((t) => t.typeUrl === typeUrl));
  const t = states[0];
  if (!t) return '-';
  let cell = t.ackedVersion ? `${t.ackedVersion} (${t.acked})` : 'NOT ACKED';
  if (t.inflightNonce) cell += ' + sending';
  if (t.rejected.length) cell += ` + ${t.rejected.length} rejected`;
  return cell;
}

export function lastNack(p: SyncStatus, now: Date): string {
  const n = p.nacks[p.nacks.length - 1];
  if (!n) return '-';
  return clip(`${shortType(n.typeUrl)} ${age(n.at, now)} ago: ${n.message}`, 80);
}

/**
 * The table. With several control planes (replicas), each proxy's row says which one it is
 * connected to.
 */
export function proxyStatusTable(proxies: readonly SyncStatus[], now = new Date(), controlPlaneOf?: (p: SyncStatus) => string): string {
  if (proxies.length === 0) return 'No proxy is connected to the control plane.\n';
  const rows = proxies
    .slice()
    .sort((a, b) => proxyName(a).localeCompare(proxyName(b)))
    .map((p) => [proxyName(p), p.info.kind, p.info.userAgent || '-', ...STATUS_TYPES.map(([, t]) => typeCell(p, t)), ...(controlPlaneOf ? [controlPlaneOf(p)] : []), lastNack(p, now)]);
  return table(['NAME', 'TYPE', 'AGENT', ...STATUS_TYPES.map(([s]) => s), ...(controlPlaneOf ? ['CONTROL PLANE'] : []), 'LAST NACK'], rows);
}
