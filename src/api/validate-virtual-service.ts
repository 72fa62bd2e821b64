// VirtualService validation with Istio's rules.
import type { StringMatch } from './common.js';
import type {
  CorsPolicy,
  Destination,
  Headers,
  HTTPDirectResponse,
  HTTPFaultInjection,
  HTTPMatchRequest,
  HTTPRedirect,
  HTTPRetry,
  HTTPRewrite,
  HTTPRoute,
  L4MatchAttributes,
  RouteDestination,
  TCPRoute,
  TLSRoute,
  VirtualServiceSpec,
} from './virtual-service.js';
import { validateExportTo, validateLabels, validateStringMatch } from './validate-common.js';
import { ErrorList, entries, isSet, list, type ValidationError } from './validate-errors.js';
import {
  HTTP_METHODS,
  cidrProblem,
  durationProblem,
  gatewayRefProblem,
  headerNameProblem,
  hostProblem,
  isIPAddress,
  namespaceProblem,
  objectNameProblem,
  percentProblem,
  portProblem,
  rangeProblem,
  regexProblem,
  subsetNameProblem,
} from './validate-primitives.js';

/** Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on conditions. */
const RETRY_ON = new Set([
  '5xx', 'gateway-error', 'reset', 'reset-before-request', 'connect-failure', 'envoy-ratelimited', 'retriable-4xx',
  'refused-stream', 'retriable-status-codes', 'retriable-headers', 'http3-post-connect-failure',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
]);

const GRPC_STATUS = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED',
  'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

/** Istio's limit on a direct response body: larger bodies are pushed to every proxy and slow down the control plane. */
const MAX_DIRECT_RESPONSE_BYTES = 1024 * 1024;

/** HTTP/2 pseudo-headers Istio accepts as header match names. */
const PSEUDO_HEADERS = new Set([':method', ':scheme', ':authority', ':path', ':status']);

/** `namespace` (the object's) is needed for one exportTo rule; without it that rule is skipped. */
export function validateVirtualService(spec: VirtualServiceSpec, namespace?: string): ValidationError[] {
  const e = new ErrorList();
  const hosts = list(spec.hosts);
  const gateways = list(spec.gateways);
  const http = list(spec.http);
  const tcp = list(spec.tcp);
  const tls = list(spec.tls);
  // A VirtualService without hosts is a delegate: only a root VirtualService's http route uses it.
  const isDelegate = hosts.length === 0;
  const appliesToMesh = gateways.length === 0 || gateways.includes('mesh');
  // Istio allows the SNI names of AUTO_PASSTHROUGH (outbound_.<port>_._.<host>) only off the mesh.
  const sniForm = !gateways.includes('mesh');
  const hasSni = tls.some((route) => list(route?.match).some((m) => list(m?.sniHosts).length > 0));

  if (isDelegate && (gateways.length > 0 || tcp.length > 0 || tls.length > 0)) {
    e.add('spec.hosts', 'at least one host is required; a VirtualService without hosts is a delegate, which cannot set gateways, tcp or tls');
  }
  if (http.length === 0 && tcp.length === 0 && tls.length === 0) {
    e.add('spec', 'at least one of http, tcp or tls routes is required');
  }
  hosts.forEach((host, i) => {
    const path = `spec.hosts[${i}]`;
    const earlier = hosts.slice(0, i);
    if (earlier.includes(host)) e.add(path, `duplicate host ${JSON.stringify(host)}`);
    else if (host === '*' && appliesToMesh) {
      e.add(path, 'wildcard host "*" is not allowed for a VirtualService bound to the mesh gateway');
    } else if (typeof host !== 'string' || !isIPAddress(host)) {
      const problem = sniForm && gateways.length > 0 && hasSni ? sniHostProblem(host) : hostProblem(host, { wildcard: true });
      if (problem) e.add(path, problem);
      else {
        // Two hosts that overlap (one wildcard covers the other) would claim the same requests twice.
        const j = earlier.findIndex((other) => typeof other === 'string' && other !== host && hostsOverlap(other, host));
        if (j >= 0) e.add(path, `${JSON.stringify(host)} overlaps ${JSON.stringify(earlier[j])} (spec.hosts[${j}]); the hosts of a VirtualService must not overlap`);
      }
    }
  });
  gateways.forEach((gateway, i) => e.check(`spec.gateways[${i}]`, gatewayRefProblem(gateway)));
  http.forEach((route, i) => validateHTTPRoute(e, `spec.http[${i}]`, route, isDelegate));
  tls.forEach((route, i) => validateTLSRoute(e, `spec.tls[${i}]`, route, hosts, sniForm));
  tcp.forEach((route, i) => validateTCPRoute(e, `spec.tcp[${i}]`, route));
  validateExportTo(e, spec.exportTo);
  if (namespace !== undefined) {
    const exportTo = list(spec.exportTo);
    const self = exportTo.indexOf(namespace);
    if (exportTo.includes('.') && self >= 0) {
      e.add(`spec.exportTo[${self}]`, `duplicate: "." already exports to this object's namespace ${JSON.stringify(namespace)}`);
    }
  }
  return e.errors;
}

/** True when one host covers the other: equal, or a wildcard (`*`, `*.a.com`) whose suffix ends the other. */
function hostsOverlap(a: string, b: string): boolean {
  const aWild = a.startsWith('*');
  const bWild = b.startsWith('*');
  if (aWild && bWild) return a.length < b.length ? b.slice(1).endsWith(a.slice(1)) : a.slice(1).endsWith(b.slice(1));
  if (aWild) return b.endsWith(a.slice(1));
  if (bWild) return a.endsWith(b.slice(1));
  return a === b;
}

/**
 * A host or SNI name of a VirtualService bound only to gateways: a DNS name, or the name a
 * sidecar sends through an AUTO_PASSTHROUGH gateway, `outbound_.<port>_._.<host>`.
 */
function sniHostProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || !value.startsWith('outbound_')) return hostProblem(value, { wildcard: true });
  if (value.length > 255) return `invalid host ${JSON.stringify(value)}: longer than 255 characters`;
  const parts = value.split('_');
  const port = parts.length >= 4 ? parts[1].replace(/^\.+|\.+$/g, '') : '';
  const host = parts.length >= 4 ? parts[3].replace(/^\.+|\.+$/g, '') : '';
  if (parts[0] !== 'outbound' || !/[0-9]/.test(port) || !/[a-zA-Z]/.test(host)) {
    return `invalid host ${JSON.stringify(value)}: a name starting with outbound_ must have the form outbound_.<port>_._.<host>`;
  }
  return undefined;
}

function validateHTTPRoute(e: ErrorList, p: string, r: HTTPRoute, isDelegate: boolean): void {
  const actions = [
    list(r.route).length > 0 ? 'route' : undefined,
    isSet(r.redirect) ? 'redirect' : undefined,
    isSet(r.directResponse) ? 'directResponse' : undefined,
    isSet(r.delegate) ? 'delegate' : undefined,
  ].filter(isSet);
  if (actions.length > 1) {
    e.add(p, `only one of route, redirect, directResponse or delegate may be set, got ${actions.join(' and ')}`);
  } else if (actions.length === 0) {
    e.add(p, 'one of route, redirect, directResponse or delegate is required');
  }
  for (const [field, present] of [['rewrite', isSet(r.rewrite)], ['fault', isSet(r.fault)]] as const) {
    if (!present) continue;
    if (isSet(r.redirect)) e.add(`${p}.${field}`, 'cannot be combined with redirect');
    if (isSet(r.directResponse)) e.add(`${p}.${field}`, 'cannot be combined with directResponse');
  }

  list(r.match).forEach((match, i) => validateHTTPMatch(e, `${p}.match[${i}]`, match));
  const routes = list(r.route);
  routes.forEach((dest, i) => {
    validateDestination(e, `${p}.route[${i}].destination`, dest.destination);
    validateHeaders(e, `${p}.route[${i}].headers`, dest.headers);
  });
  validateRouteWeights(e, `${p}.route`, routes);

  if (isSet(r.delegate)) {
    if (isDelegate) e.add(`${p}.delegate`, 'only a root VirtualService (one with hosts) may delegate');
    if (!r.delegate.name) e.add(`${p}.delegate.name`, 'required');
    else e.check(`${p}.delegate.name`, objectNameProblem(r.delegate.name));
    if (isSet(r.delegate.namespace)) e.check(`${p}.delegate.namespace`, namespaceProblem(r.delegate.namespace));
  }
  if (isSet(r.redirect)) validateRedirect(e, p, r.redirect, list(r.match));
  if (isSet(r.directResponse)) validateDirectResponse(e, `${p}.directResponse`, r.directResponse);
  if (isSet(r.rewrite)) validateRewrite(e, `${p}.rewrite`, r.rewrite);
  validateAuthoritySetOnce(e, p, r);
  if (isSet(r.timeout)) e.check(`${p}.timeout`, durationProblem(r.timeout, { min: '0' }));
  if (isSet(r.retries)) validateRetries(e, `${p}.retries`, r.retries);
  if (isSet(r.fault)) validateFault(e, `${p}.fault`, r.fault);
  validateMirrors(e, p, r);
  if (isSet(r.corsPolicy)) validateCors(e, `${p}.corsPolicy`, r.corsPolicy);
  validateHeaders(e, `${p}.headers`, r.headers);
}

/** HTTPRedirect as Istio 1.31 has it: prefixRewrite is newer than the type Trellis declares. */
type Redirect = HTTPRedirect & { prefixRewrite?: string };

function validateRedirect(e: ErrorList, p: string, rd: Redirect, matches: readonly HTTPMatchRequest[]): void {
  const given = (v: unknown): boolean => isSet(v) && v !== '';
  if (![rd.uri, rd.authority, rd.scheme, rd.port, rd.derivePort, rd.prefixRewrite].some(given)) {
    e.add(`${p}.redirect`, 'at least one of uri, prefixRewrite, authority, scheme, port or derivePort is required');
  }
  if (given(rd.uri) && given(rd.prefixRewrite)) {
    e.add(`${p}.redirect`, 'only one of uri or prefixRewrite may be set: uri replaces the whole path, prefixRewrite only the matched prefix');
  }
  if (given(rd.prefixRewrite)) {
    // prefixRewrite replaces the prefix the request matched, so an exact or regex uri match leaves nothing to replace.
    matches.forEach((m, i) => {
      const uri = m?.uri;
      if (isSet(uri) && (isSet(uri.exact) || isSet(uri.regex))) {
        e.add(`${p}.match[${i}].uri`, 'must be a prefix match (or absent) when redirect.prefixRewrite is set, as prefixRewrite replaces the matched prefix');
      }
    });
  }
  if (isSet(rd.port) && isSet(rd.derivePort)) e.add(`${p}.redirect`, 'only one of port or derivePort may be set');
  if (isSet(rd.port)) e.check(`${p}.redirect.port`, portProblem(rd.port));
  if (isSet(rd.redirectCode) && rd.redirectCode !== 0 && (rd.redirectCode < 300 || rd.redirectCode > 399)) {
    e.add(`${p}.redirect.redirectCode`, `must be a 3xx redirect code, got ${rd.redirectCode}`);
  }
}

function validateDirectResponse(e: ErrorList, p: string, d: HTTPDirectResponse): void {
  e.check(`${p}.status`, httpStatusProblem(d.status));
  const body = d.body;
  if (!isSet(body)) return;
  if (isSet(body.string) && isSet(body.bytes)) e.add(`${p}.body`, 'only one of string or bytes may be set');
  const size = (field: 'string' | 'bytes', value: unknown): void => {
    if (typeof value !== 'string') return;
    const bytes = field === 'string' ? Buffer.byteLength(value, 'utf8') : Buffer.from(value, 'base64').length;
    if (bytes > MAX_DIRECT_RESPONSE_BYTES) {
      e.add(`${p}.body.${field}`, `must be at most 1 MiB (${MAX_DIRECT_RESPONSE_BYTES} bytes), got ${bytes} bytes: every proxy receives the body with its configuration`);
    }
  };
  size('string', body.string);
  size('bytes', body.bytes);
}

/** Istio's range for an abort or direct response status: 200 to 600 inclusive. */
function httpStatusProblem(value: unknown): string | undefined {
  return rangeProblem(value, 200, 600);
}

function validateRewrite(e: ErrorList, p: string, rw: HTTPRewrite): void {
  const given = (v: unknown): boolean => isSet(v) && v !== '';
  if (!given(rw.uri) && !isSet(rw.uriRegexRewrite) && !given(rw.authority)) {
    e.add(p, 'at least one of uri, uriRegexRewrite or authority is required');
  }
  if (isSet(rw.uri) && isSet(rw.uriRegexRewrite)) e.add(p, 'only one of uri or uriRegexRewrite may be set');
  if (isSet(rw.uriRegexRewrite)) {
    const rr = rw.uriRegexRewrite;
    if (!isSet(rr.match) || rr.match === '') e.add(`${p}.uriRegexRewrite.match`, 'required');
    else e.check(`${p}.uriRegexRewrite.match`, regexProblem(rr.match));
    if (!isSet(rr.rewrite)) e.add(`${p}.uriRegexRewrite.rewrite`, 'required');
  }
}

function isAuthorityHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === ':authority' || lower === 'host';
}

/** The authority may be rewritten in one place only: rewrite.authority or one request header of the route. */
function validateAuthoritySetOnce(e: ErrorList, p: string, r: HTTPRoute): void {
  let current = typeof r.rewrite?.authority === 'string' ? r.rewrite.authority : '';
  let where = 'rewrite.authority';
  const request = r.headers?.request;
  for (const op of ['set', 'add'] as const) {
    for (const [name, value] of entries(request?.[op])) {
      if (!isAuthorityHeader(name)) continue;
      if (current !== '') {
        e.add(`${p}.headers.request.${op}[${name}]`, `the authority is already set by ${where}; set it in one place only`);
        return;
      }
      current = typeof value === 'string' ? value : '';
      where = `headers.request.${op}[${name}]`;
    }
  }
}

/** Where a string match appears decides what Istio allows in it. */
interface MatchRule {
  /** Envoy accepts an empty uri prefix (match all) but not an empty prefix in a string matcher. */
  emptyPrefix: boolean;
  /** In withoutHeaders, regex `*` means "the header is absent", not an RE2 pattern. */
  starIsPresence?: boolean;
}

function validateMatchValue(e: ErrorList, path: string, m: StringMatch | undefined | null, rule: MatchRule): void {
  if (!isSet(m)) return;
  if (rule.starIsPresence && m.regex === '*' && !isSet(m.exact) && !isSet(m.prefix)) return;
  validateStringMatch(e, path, m);
  if (!rule.emptyPrefix && m.prefix === '' && !isSet(m.exact) && !isSet(m.regex)) {
    e.add(`${path}.prefix`, 'must not be empty (Envoy rejects an empty prefix); to match any value, use an empty match {}');
  }
}

function matchHeaderNameProblem(name: string): string | undefined {
  return PSEUDO_HEADERS.has(name) ? undefined : headerNameProblem(name);
}

function validateHTTPMatch(e: ErrorList, p: string, m: HTTPMatchRequest): void {
  validateMatchValue(e, `${p}.uri`, m.uri, { emptyPrefix: true });
  for (const field of ['scheme', 'method', 'authority'] as const) validateMatchValue(e, `${p}.${field}`, m[field], { emptyPrefix: false });
  for (const field of ['headers', 'withoutHeaders'] as const) {
    for (const [name, match] of entries(m[field])) {
      if (name === '') e.add(`${p}.${field}[]`, 'name must not be empty');
      else e.check(`${p}.${field}[${name}]`, matchHeaderNameProblem(name));
      validateMatchValue(e, `${p}.${field}[${name}]`, match, { emptyPrefix: false, starIsPresence: field === 'withoutHeaders' });
    }
  }
  for (const [name, match] of entries(m.queryParams)) {
    if (name === '') e.add(`${p}.queryParams[]`, 'name must not be empty');
    validateMatchValue(e, `${p}.queryParams[${name}]`, match, { emptyPrefix: false });
  }
  if (isSet(m.port) && m.port !== 0) e.check(`${p}.port`, portProblem(m.port));
  validateLabels(e, `${p}.sourceLabels`, m.sourceLabels);
  list(m.gateways).forEach((g, i) => e.check(`${p}.gateways[${i}]`, gatewayRefProblem(g)));
  if (isSet(m.sourceNamespace) && m.sourceNamespace !== '') {
    e.check(`${p}.sourceNamespace`, namespaceProblem(m.sourceNamespace));
  }
}

/**
 * Weights are relative, as Istio (and Envoy's weighted clusters) treat them: they need not sum to
 * 100, but none may be negative and several destinations cannot all weigh 0 (no traffic anywhere).
 */
function validateRouteWeights(e: ErrorList, path: string, routes: readonly { weight?: number }[]): void {
  let sum = 0;
  routes.forEach((route, i) => {
    if (!isSet(route.weight)) return;
    if (typeof route.weight !== 'number' || !Number.isInteger(route.weight)) {
      e.add(`${path}[${i}].weight`, `must be a whole number, got ${JSON.stringify(route.weight)}`);
    } else if (route.weight < 0) {
      e.add(`${path}[${i}].weight`, `must not be negative, got ${route.weight}`);
    } else {
      sum += route.weight;
    }
  });
  if (routes.length > 1 && sum === 0) {
    e.add(path, 'with several destinations at least one weight must be above 0 (weights are relative; a missing weight counts as 0)');
  }
}

export function validateDestination(e: ErrorList, p: string, d: Destination | undefined): void {
  if (!isSet(d)) {
    e.add(p, 'required');
    return;
  }
  if (d.host === '*') e.add(`${p}.host`, '"*" is not a valid destination host; name a service');
  else e.check(`${p}.host`, hostProblem(d.host, { wildcard: true }));
  if (isSet(d.subset) && d.subset !== '') e.check(`${p}.subset`, subsetNameProblem(d.subset));
  if (isSet(d.port)) e.check(`${p}.port.number`, portProblem(d.port.number));
}

function validateHeaders(e: ErrorList, p: string, headers: Headers | undefined): void {
  for (const side of ['request', 'response'] as const) {
    const ops = headers?.[side];
    if (!isSet(ops)) continue;
    for (const op of ['set', 'add'] as const) {
      for (const [name, value] of entries(ops[op])) {
        const path = `${p}.${side}.${op}[${name}]`;
        const authority = side === 'request' && isAuthorityHeader(name);
        if (side === 'response' && name.toLowerCase() === 'host') e.add(path, 'the Host header cannot be set on a response');
        else if (!authority) e.check(path, headerNameProblem(name));
        e.check(path, headerValueProblem(value));
      }
    }
    list(ops.remove).forEach((name, i) => {
      const path = `${p}.${side}.remove[${i}]`;
      if (typeof name === 'string' && name.toLowerCase() === 'host') e.add(path, 'the Host header cannot be removed');
      else e.check(path, headerNameProblem(name));
    });
  }
}

/**
 * A header value as Envoy parses it: no control characters but tab, and every `%` either doubled
 * (`%%`, a literal percent) or opening a `%VARIABLE%` / `%VARIABLE(args)%` that is closed.
 */
export function headerValueProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `must be a string, got ${JSON.stringify(value)}`;
  const quoted = JSON.stringify(value);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000A-\u001F\u007F]/.test(value)) return `invalid header value ${quoted}: control characters are not allowed`;
  const syntax = headerVariableProblem(value);
  return syntax ? `invalid header value ${quoted}: ${syntax}; write %% for a literal %` : undefined;
}

type VarState = 'literal' | 'name' | 'array' | 'string' | 'quoted' | 'delimiter' | 'argsEnd' | 'varEnd';

/** Walks `%VAR%`, `%VAR(arg)%` and `%VAR(["a", "b"])%` expressions the way Envoy's header parser does. */
function headerVariableProblem(value: string): string | undefined {
  let state: VarState = 'literal';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    const last = i + 1 === value.length;
    switch (state) {
      case 'literal':
        if (ch !== '%') break;
        if (last) return 'a single % at the end';
        if (value[i + 1] === '%') i++;
        else state = 'name';
        break;
      case 'name':
        if (ch === '%') state = 'literal';
        else if (ch === '(') state = 'array';
        break;
      case 'array':
        if (ch === '[') state = 'string';
        else if (ch !== ' ') state = 'quoted';
        break;
      case 'string':
        if (ch === '"') state = 'quoted';
        else if (ch !== ' ') return 'expected \'"\' to open an argument';
        break;
      case 'quoted':
        if (ch === '\\') {
          if (last) return 'a backslash at the end of an argument';
          i++;
        } else if (ch === ')') state = 'varEnd';
        else if (ch === '"') state = 'delimiter';
        break;
      case 'delimiter':
        if (ch === ',') state = 'string';
        else if (ch === ']') state = 'argsEnd';
        else if (ch !== ' ') return "expected ',' or ']' between arguments";
        break;
      case 'argsEnd':
        if (ch === ')') state = 'varEnd';
        else if (ch !== ' ') return "expected ')' after the arguments";
        break;
      case 'varEnd':
        if (ch === '%') state = 'literal';
        else if (ch !== ' ') return "expected '%' to close the variable";
        break;
    }
  }
  return state === 'literal' ? undefined : 'a %VARIABLE% is not closed';
}

function validateRetries(e: ErrorList, p: string, r: HTTPRetry): void {
  const attempts = r.attempts ?? 0;
  if (attempts < 0) e.add(`${p}.attempts`, `must not be negative, got ${attempts}`);
  const other = [r.perTryTimeout, r.retryOn, r.retryRemoteLocalities, r.retryIgnorePreviousHosts, r.backoff].some(isSet);
  if (attempts === 0 && other) {
    e.add(p, 'attempts is 0, which disables retries; set attempts or remove the other retry settings');
  }
  if (isSet(r.perTryTimeout)) e.check(`${p}.perTryTimeout`, durationProblem(r.perTryTimeout));
  if (isSet(r.backoff)) e.check(`${p}.backoff`, durationProblem(r.backoff));
  if (isSet(r.retryOn)) {
    for (const raw of String(r.retryOn).split(',')) {
      const condition = raw.trim();
      if (condition === '' || RETRY_ON.has(condition)) continue;
      if (/^\d+$/.test(condition)) {
        const code = Number(condition);
        if (code < 100 || code > 599) e.add(`${p}.retryOn`, `${condition} is not an HTTP status code (100-599)`);
      } else {
        e.add(`${p}.retryOn`, `unknown retry condition ${JSON.stringify(condition)}`);
      }
    }
  }
}

function validateFault(e: ErrorList, p: string, f: HTTPFaultInjection): void {
  if (!isSet(f.delay) && !isSet(f.abort)) e.add(p, 'at least one of delay or abort is required');
  if (isSet(f.delay)) {
    const d = f.delay;
    if (!isSet(d.fixedDelay) && !isSet(d.exponentialDelay)) e.add(`${p}.delay.fixedDelay`, 'required');
    if (isSet(d.fixedDelay)) e.check(`${p}.delay.fixedDelay`, durationProblem(d.fixedDelay));
    if (isSet(d.exponentialDelay)) e.check(`${p}.delay.exponentialDelay`, durationProblem(d.exponentialDelay));
    if (isSet(d.percentage)) e.check(`${p}.delay.percentage.value`, percentProblem(d.percentage.value ?? 0));
    if (isSet(d.percent)) e.check(`${p}.delay.percent`, percentProblem(d.percent));
  }
  if (isSet(f.abort)) {
    const a = f.abort;
    if (!isSet(a.httpStatus) && !isSet(a.grpcStatus) && !isSet(a.http2Error)) {
      e.add(`${p}.abort`, 'one of httpStatus or grpcStatus is required');
    }
    if (isSet(a.httpStatus)) e.check(`${p}.abort.httpStatus`, httpStatusProblem(a.httpStatus));
    if (isSet(a.grpcStatus) && !GRPC_STATUS.includes(a.grpcStatus) && !/^(?:\d|1[0-6])$/.test(a.grpcStatus)) {
      e.add(`${p}.abort.grpcStatus`, `unknown gRPC status ${JSON.stringify(a.grpcStatus)}; use a name such as UNAVAILABLE`);
    }
    if (isSet(a.percentage)) e.check(`${p}.abort.percentage.value`, percentProblem(a.percentage.value ?? 0));
  }
}

function validateMirrors(e: ErrorList, p: string, r: HTTPRoute): void {
  const mirrors = list(r.mirrors);
  if (isSet(r.mirror) && mirrors.length > 0) e.add(`${p}.mirrors`, 'cannot be combined with mirror');
  if (isSet(r.mirror)) validateDestination(e, `${p}.mirror`, r.mirror);
  if (isSet(r.mirrorPercentage)) e.check(`${p}.mirrorPercentage.value`, percentProblem(r.mirrorPercentage.value ?? 0));
  if (isSet(r.mirrorPercent)) e.check(`${p}.mirrorPercent`, percentProblem(r.mirrorPercent));
  if (isSet(r.mirror_percent)) e.check(`${p}.mirror_percent`, percentProblem(r.mirror_percent));
  mirrors.forEach((m, i) => {
    validateDestination(e, `${p}.mirrors[${i}].destination`, m.destination);
    if (isSet(m.percentage)) e.check(`${p}.mirrors[${i}].percentage.value`, percentProblem(m.percentage.value ?? 0));
  });
}

function validateCors(e: ErrorList, p: string, c: CorsPolicy): void {
  list(c.allowOrigins).forEach((o, i) => validateStringMatch(e, `${p}.allowOrigins[${i}]`, o));
  list(c.allowMethods).forEach((method, i) => {
    if (method !== '*' && !HTTP_METHODS.includes(method)) {
      e.add(`${p}.allowMethods[${i}]`, `unknown HTTP method ${JSON.stringify(method)}; use one of ${HTTP_METHODS.join(', ')}`);
    }
  });
  for (const field of ['allowHeaders', 'exposeHeaders'] as const) {
    list(c[field]).forEach((h, i) => {
      if (h !== '*') e.check(`${p}.${field}[${i}]`, headerNameProblem(h));
    });
  }
  if (isSet(c.maxAge)) e.check(`${p}.maxAge`, durationProblem(c.maxAge, { min: '1ms', precision: 's' }));
}

function validateL4Match(e: ErrorList, p: string, m: L4MatchAttributes & { sniHosts?: string[] }): void {
  list(m.destinationSubnets).forEach((s, i) => e.check(`${p}.destinationSubnets[${i}]`, cidrProblem(s)));
  if (isSet(m.sourceSubnet) && m.sourceSubnet !== '') e.check(`${p}.sourceSubnet`, cidrProblem(m.sourceSubnet));
  if (isSet(m.port) && m.port !== 0) e.check(`${p}.port`, portProblem(m.port));
  validateLabels(e, `${p}.sourceLabels`, m.sourceLabels);
  list(m.gateways).forEach((g, i) => e.check(`${p}.gateways[${i}]`, gatewayRefProblem(g)));
  if (isSet(m.sourceNamespace) && m.sourceNamespace !== '') {
    e.check(`${p}.sourceNamespace`, namespaceProblem(m.sourceNamespace));
  }
}

function validateL4Routes(e: ErrorList, p: string, routes: readonly RouteDestination[]): void {
  if (routes.length === 0) e.add(p, 'at least one route is required');
  routes.forEach((dest, i) => validateDestination(e, `${p}[${i}].destination`, dest.destination));
  validateRouteWeights(e, p, routes);
}

function validateTCPRoute(e: ErrorList, p: string, r: TCPRoute): void {
  list(r.match).forEach((m, i) => validateL4Match(e, `${p}.match[${i}]`, m));
  validateL4Routes(e, `${p}.route`, list(r.route));
}

/** True when `sni` is one of the names `host` stands for (`*.com` covers `a.com` and `*.a.com`). */
function covers(host: string, sni: string): boolean {
  if (host === '*' || host === sni) return true;
  if (host.startsWith('*')) return sni.endsWith(host.slice(1));
  return !host.includes('.') && sni.startsWith(`${host}.`);
}

function validateTLSRoute(e: ErrorList, p: string, r: TLSRoute, hosts: readonly string[], sniForm: boolean): void {
  const matches = list(r.match);
  if (matches.length === 0) e.add(`${p}.match`, 'at least one match is required');
  matches.forEach((m, i) => {
    const mp = `${p}.match[${i}]`;
    const snis = list(m.sniHosts);
    if (snis.length === 0) e.add(`${mp}.sniHosts`, 'at least one SNI host is required');
    snis.forEach((sni, j) => {
      const problem = sniForm ? sniHostProblem(sni) : hostProblem(sni, { wildcard: true });
      // An IP address is not a valid SNI name and most clients never send one, but Istio only warns.
      if (problem && typeof sni === 'string' && isIPAddress(sni)) return;
      if (problem) e.add(`${mp}.sniHosts[${j}]`, problem);
      else if (hosts.length > 0 && !hosts.some((h) => covers(h, sni))) {
        e.add(`${mp}.sniHosts[${j}]`, `${JSON.stringify(sni)} is not covered by the VirtualService hosts`);
      }
    });
    validateL4Match(e, mp, m);
  });
  validateL4Routes(e, `${p}.route`, list(r.route));
}
