// Istio's formats for the access logs its envoyFileAccessLog providers write (pilot's
// telemetry_logging.go): the default text line and the default JSON labels, and how a provider's
// logFormat and the mesh configuration's accessLogEncoding / accessLogFormat pick among them.
// Pure.
import type { EnvoyFileAccessLogProvider, MeshConfig } from '../api/mesh-config.js';

/** Istio's default text access log (its EnvoyTextLogFormat, Istio 1.9 onwards). */
export const ISTIO_TEXT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% ' +
  '%DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" ' +
  '"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% ' +
  '%DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n';

/** Istio's default JSON access log labels (its EnvoyJSONLogFormatIstio). */
export const ISTIO_JSON_LABELS: Readonly<Record<string, string>> = {
  start_time: '%START_TIME%',
  route_name: '%ROUTE_NAME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER_RAW%',
  upstream_local_address: '%UPSTREAM_LOCAL_ADDRESS%',
  downstream_local_address: '%DOWNSTREAM_LOCAL_ADDRESS%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
  upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
};

export const BUILTIN_ENVOY_PROVIDER = 'envoy';
export const DEV_STDOUT = '/dev/stdout';

/** A text line (one format string) or a JSON object (each value a format string, or a nested value). */
export type AccessLogFormat = { text: string } | { json: Readonly<Record<string, unknown>> };

/** Where and how an envoyFileAccessLog provider writes. */
export interface FileAccessLog {
  path: string;
  format: AccessLogFormat;
  omitEmptyValues: boolean;
}

/** Istio appends the newline a text format lacks. */
const line = (text: string): string => (text.endsWith('\n') ? text : `${text}\n`);

/**
 * The file log of a provider: its own logFormat; for the built-in `envoy` without one, the mesh
 * configuration's accessLogEncoding and accessLogFormat, as Istio does.
 */
export function fileAccessLog(name: string, p: EnvoyFileAccessLogProvider, mesh: Pick<MeshConfig, 'accessLogEncoding' | 'accessLogFormat'>): FileAccessLog {
  const omitEmptyValues = p.omitEmptyValues ?? false;
  if (name === BUILTIN_ENVOY_PROVIDER && !p.logFormat && !omitEmptyValues) {
    const path = p.path ?? DEV_STDOUT;
    if (mesh.accessLogEncoding === 'JSON') {
      return { path, omitEmptyValues, format: { json: mesh.accessLogFormat ? (JSON.parse(mesh.accessLogFormat) as Record<string, unknown>) : ISTIO_JSON_LABELS } };
    }
    return { path, omitEmptyValues, format: { text: mesh.accessLogFormat ? line(mesh.accessLogFormat) : ISTIO_TEXT_FORMAT } };
  }
  const path = p.path || DEV_STDOUT;
  const labels = p.logFormat?.labels;
  // Labels given but empty: Istio's default JSON labels.
  if (p.logFormat && labels !== undefined) return { path, omitEmptyValues, format: { json: labels && Object.keys(labels).length > 0 ? labels : ISTIO_JSON_LABELS } };
  return { path, omitEmptyValues, format: { text: p.logFormat?.text ? line(p.logFormat.text) : ISTIO_TEXT_FORMAT } };
}
