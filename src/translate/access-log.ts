// Access logs on a proxy's listeners, as Istio writes them for Telemetry's envoyFileAccessLog
// providers: Envoy's file access logger with the provider's text or JSON format, behind Envoy's
// CEL filter when the Telemetry entry has a filter expression. The same entries go on the HTTP
// connection manager and on tcp_proxy of every chain of a side (CLIENT: outbound listeners and
// gateways; SERVER: the inbound listener). Pure.
import type { ResolvedAccessLog } from '../model/telemetry.js';
import type { AccessLog } from '../xds/generated/envoy/config/accesslog/v3/AccessLog.js';
import type { FileAccessLog } from '../xds/generated/envoy/extensions/access_loggers/file/v3/FileAccessLog.js';
import { packAny } from '../xds/protos.js';

export const FILE_ACCESS_LOG = 'envoy.access_loggers.file';
export const FILE_ACCESS_LOG_TYPE = 'envoy.extensions.access_loggers.file.v3.FileAccessLog';
export const CEL_FILTER = 'envoy.access_loggers.extension_filters.cel';
export const CEL_FILTER_TYPE = 'envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter';

/** The access log entries of a listener side; none when no Telemetry turns logging on. */
export type ListenerAccessLogs = readonly AccessLog[];

export const NO_ACCESS_LOGS: ListenerAccessLogs = [];

type StructValue = { stringValue: string } | { numberValue: number } | { boolValue: boolean } | { nullValue: 'NULL_VALUE' } | { structValue: { fields: Record<string, StructValue> } } | { listValue: { values: StructValue[] } };

/** A JSON value as google.protobuf.Value (json_format's labels may nest). */
function structValue(v: unknown): StructValue {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(structValue) } };
  if (v !== null && typeof v === 'object') return { structValue: { fields: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, structValue(x)])) } };
  return { nullValue: 'NULL_VALUE' };
}

function fileAccessLog(log: ResolvedAccessLog): AccessLog {
  const format = 'text' in log.format
    ? { text_format_source: { inline_string: log.format.text } }
    : { json_format: { fields: Object.fromEntries(Object.entries(log.format.json).map(([k, v]) => [k, structValue(v)])) }, json_format_options: { sort_properties: false } };
  const config = { path: log.path, log_format: { ...format, ...(log.omitEmptyValues ? { omit_empty_values: true } : {}) } } as FileAccessLog;
  return {
    name: FILE_ACCESS_LOG,
    ...(log.filter !== undefined ? { filter: { extension_filter: { name: CEL_FILTER, typed_config: packAny(CEL_FILTER_TYPE, { expression: log.filter }) } } } : {}),
    typed_config: packAny(FILE_ACCESS_LOG_TYPE, config),
  };
}

/** Envoy's access_log entries for the logs the model resolved for one side of a workload. */
export function listenerAccessLogs(logs: readonly ResolvedAccessLog[]): ListenerAccessLogs {
  return logs.length === 0 ? NO_ACCESS_LOGS : logs.map(fileAccessLog);
}
