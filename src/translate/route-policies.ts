// The per-route policies of a VirtualService HTTP route as Envoy fields: retries (with Istio's
// defaults), fault injection, header operations, CORS, redirects, direct responses and
// consistent-hash policies.
import type { ConsistentHashLB, HeaderOperations, HTTPDirectResponse, HTTPRedirect, RouteCors, RouteFault, RouteRetries } from '../model/http-routes.js';
import type { HeaderValueOption } from '../xds/generated/envoy/config/core/v3/HeaderValueOption.js';
import type { DirectResponseAction } from '../xds/generated/envoy/config/route/v3/DirectResponseAction.js';
import type { RedirectAction } from '../xds/generated/envoy/config/route/v3/RedirectAction.js';
import type { RetryPolicy } from '../xds/generated/envoy/config/route/v3/RetryPolicy.js';
import type { _envoy_config_route_v3_RouteAction_HashPolicy as HashPolicy } from '../xds/generated/envoy/config/route/v3/RouteAction.js';
import type { CorsPolicy as EnvoyCors } from '../xds/generated/envoy/extensions/filters/http/cors/v3/CorsPolicy.js';
import type { HTTPFault } from '../xds/generated/envoy/extensions/filters/http/fault/v3/HTTPFault.js';
import { packAny } from '../xds/protos.js';
import { duration } from './duration.js';
import { CORS_POLICY_TYPE, FAULT_TYPE } from './filters.js';
import { stringMatcher } from './http-match.js';
import { fractionalPercent } from './percent.js';

export const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';
export const DEFAULT_RETRY_ATTEMPTS = 2;

// An empty message encodes to no bytes: the Any needs no proto of its own.
const PREVIOUS_HOSTS = { name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { type_url: 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate', value: Buffer.alloc(0) } };

/** Istio's retry policy: 2 attempts on connect failures, refused streams, unavailable, cancelled and 503 by default; none for `attempts: 0`. */
export function retryPolicy(r: RouteRetries | undefined): RetryPolicy | undefined {
  if (r?.attempts === 0) return undefined;
  const tokens = (r?.retryOn ?? DEFAULT_RETRY_ON).split(',').map((t) => t.trim()).filter(Boolean);
  const codes = tokens.filter((t) => /^\d+$/.test(t)).map(Number);
  const on = tokens.filter((t) => !/^\d+$/.test(t));
  if (codes.length > 0 && !on.includes('retriable-status-codes')) on.push('retriable-status-codes');
  const statusCodes = codes.length > 0 ? codes : r?.retryOn === undefined ? [503] : [];
  return {
    retry_on: on.join(','),
    num_retries: { value: r?.attempts ?? DEFAULT_RETRY_ATTEMPTS },
    ...(r?.perTryTimeout ? { per_try_timeout: r.perTryTimeout } : {}),
    ...(statusCodes.length > 0 ? { retriable_status_codes: statusCodes } : {}),
    ...(r?.retryIgnorePreviousHosts === false ? {} : { retry_host_predicate: [PREVIOUS_HOSTS], host_selection_retry_max_attempts: 5 }),
    ...(r?.backoff ? { retry_back_off: { base_interval: r.backoff } } : {}),
  };
}

/** set → overwrite, add → append; and the names to remove. */
export function headerOps(ops: HeaderOperations | undefined): { add: HeaderValueOption[]; remove: string[] } {
  const add: HeaderValueOption[] = [];
  for (const [key, value] of Object.entries(ops?.set ?? {})) add.push({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
  for (const [key, value] of Object.entries(ops?.add ?? {})) add.push({ header: { key, value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' });
  return { add, remove: [...(ops?.remove ?? [])] };
}

const GRPC_CODES: Record<string, number> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

/** The fault filter's per-route config (an Any), or undefined when there is nothing to inject. */
export function faultConfig(f: RouteFault | undefined): ReturnType<typeof packAny> | undefined {
  if (!f || (!f.delay && !f.abort)) return undefined;
  const out: HTTPFault = {};
  const fixed = f.delay?.fixedDelay;
  if (f.delay && fixed) out.delay = { fixed_delay: fixed, percentage: fractionalPercent(f.delay.percentage, f.delay.percent) };
  if (f.abort) {
    const pct = fractionalPercent(f.abort.percentage);
    if (f.abort.httpStatus !== undefined) out.abort = { http_status: f.abort.httpStatus, percentage: pct };
    else if (f.abort.grpcStatus !== undefined) out.abort = { grpc_status: GRPC_CODES[f.abort.grpcStatus.toUpperCase()] ?? (/^\d+$/.test(f.abort.grpcStatus) ? Number(f.abort.grpcStatus) : 2), percentage: pct };
  }
  return out.delay || out.abort ? packAny(FAULT_TYPE, out) : undefined;
}

export function corsConfig(c: RouteCors | undefined): ReturnType<typeof packAny> | undefined {
  if (!c) return undefined;
  const origins = [...(c.allowOrigins ?? []).map((o) => stringMatcher(o)), ...(c.allowOrigin ?? []).map((o) => (o === '*' ? { safe_regex: { regex: '.*' } } : { exact: o }))].filter((x) => x !== undefined);
  const maxAge = c.maxAge;
  const policy: EnvoyCors = {
    allow_origin_string_match: origins,
    ...(c.allowMethods ? { allow_methods: c.allowMethods.join(',') } : {}),
    ...(c.allowHeaders ? { allow_headers: c.allowHeaders.join(',') } : {}),
    ...(c.exposeHeaders ? { expose_headers: c.exposeHeaders.join(',') } : {}),
    ...(maxAge ? { max_age: String(Number(maxAge.seconds)) } : {}),
    ...(c.allowCredentials !== undefined && c.allowCredentials !== null ? { allow_credentials: { value: c.allowCredentials } } : {}),
    ...(c.unmatchedPreflights === 'IGNORE' ? { forward_not_matching_preflights: { value: false } } : {}),
  };
  return packAny(CORS_POLICY_TYPE, policy);
}

const REDIRECT_CODES: Record<number, NonNullable<RedirectAction['response_code']>> = {
  301: 'MOVED_PERMANENTLY',
  302: 'FOUND',
  303: 'SEE_OTHER',
  307: 'TEMPORARY_REDIRECT',
  308: 'PERMANENT_REDIRECT',
};

export function redirectAction(r: HTTPRedirect): RedirectAction {
  return {
    ...(r.uri ? { path_redirect: r.uri } : {}),
    ...(r.prefixRewrite !== undefined && !r.uri ? { prefix_rewrite: r.prefixRewrite } : {}),
    ...(r.authority ? { host_redirect: r.authority } : {}),
    ...(r.port ? { port_redirect: r.port } : {}),
    ...(r.scheme ? { scheme_redirect: r.scheme } : {}),
    response_code: REDIRECT_CODES[r.redirectCode ?? 301] ?? 'MOVED_PERMANENTLY',
  };
}

export function directResponseAction(d: HTTPDirectResponse): DirectResponseAction {
  const body = d.body?.string !== undefined ? { inline_string: d.body.string } : d.body?.bytes !== undefined ? { inline_bytes: Buffer.from(d.body.bytes, 'base64') } : undefined;
  return { status: d.status, ...(body ? { body } : {}) };
}

/** A DestinationRule's consistentHash as the route's hash policy. */
export function hashPolicy(ch: ConsistentHashLB | undefined): HashPolicy[] {
  if (!ch) return [];
  if (ch.httpHeaderName) return [{ header: { header_name: ch.httpHeaderName } }];
  if (ch.httpCookie) {
    const ttl = duration(ch.httpCookie.ttl);
    return [{ cookie: { name: ch.httpCookie.name, ...(ch.httpCookie.path ? { path: ch.httpCookie.path } : {}), ...(ttl ? { ttl } : {}) } }];
  }
  if (ch.useSourceIp) return [{ connection_properties: { source_ip: true } }];
  if (ch.httpQueryParameterName) return [{ query_parameter: { name: ch.httpQueryParameterName } }];
  return [];
}
