// VirtualService validation with Istio's rules.
import type {
  CorsPolicy,
  Destination,
  Headers,
  HTTPFaultInjection,
  HTTPMatchRequest,
  HTTPRetry,
  HTTPRoute,
  L4MatchAttributes,
  RouteDestination,
  TCPRoute,
  TLSRoute,
  VirtualServiceSpec,
} from './virtual-service.js';
import { validateExportTo, validateLabels, validateStringMatch, validateStringMatchMap, validateWeights } from './validate-common.js';
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

export function validateVirtualService(spec: VirtualServiceSpec): ValidationError[] {
  const e = new ErrorList();
  const hosts = list(spec.hosts);
  const gateways = list(spec.gateways);
  const http = list(spec.http);
  const tcp = list(spec.tcp);
  const tls = list(spec.tls);
  // A VirtualService without hosts is a delegate: only a root VirtualService's http route uses it.
  const isDelegate = hosts.length === 0;
  const appliesToMesh = gateways.length === 0 || gateways.includes('mesh');

  if (isDelegate && (gateways.length > 0 || tcp.length > 0 || tls.length > 0)) {
    e.add('spec.hosts', 'at least one host is required; a VirtualService without hosts is a delegate, which cannot set gateways, tcp or tls');
  }
  if (http.length === 0 && tcp.length === 0 && tls.length === 0) {
    e.add('spec', 'at least one of http, tcp or tls routes is required');
  }
  const seen = new Set<string>();
  hosts.forEach((host, i) => {
    const path = `spec.hosts[${i}]`;
    if (seen.has(host)) e.add(path, `duplicate host ${JSON.stringify(host)}`);
    else if (host === '*' && appliesToMesh) {
      e.add(path, 'wildcard host "*" is not allowed for a VirtualService bound to the mesh gateway');
    } else if (typeof host !== 'string' || !isIPAddress(host)) e.check(path, hostProblem(host, { wildcard: true }));
    seen.add(host);
  });
  gateways.forEach((gateway, i) => e.check(`spec.gateways[${i}]`, gatewayRefProblem(gateway)));
  http.forEach((route, i) => validateHTTPRoute(e, `spec.http[${i}]`, route, isDelegate));
  tls.forEach((route, i) => validateTLSRoute(e, `spec.tls[${i}]`, route, hosts));
  tcp.forEach((route, i) => validateTCPRoute(e, `spec.tcp[${i}]`, route));
  validateExportTo(e, spec.exportTo);
  return e.errors;
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
  validateWeights(e, `${p}.route`, routes);

  if (isSet(r.delegate)) {
    if (isDelegate) e.add(`${p}.delegate`, 'only a root VirtualService (one with hosts) may delegate');
    if (!r.delegate.name) e.add(`${p}.delegate.name`, 'required');
    else e.check(`${p}.delegate.name`, objectNameProblem(r.delegate.name));
    if (isSet(r.delegate.namespace)) e.check(`${p}.delegate.namespace`, namespaceProblem(r.delegate.namespace));
  }
  if (isSet(r.redirect)) {
    const rd = r.redirect;
    if (![rd.uri, rd.authority, rd.scheme, rd.port, rd.derivePort].some((v) => isSet(v) && v !== '')) {
      e.add(`${p}.redirect`, 'at least one of uri, authority, scheme, port or derivePort is required');
    }
    if (isSet(rd.port) && isSet(rd.derivePort)) e.add(`${p}.redirect`, 'only one of port or derivePort may be set');
    if (isSet(rd.port)) e.check(`${p}.redirect.port`, portProblem(rd.port));
    if (isSet(rd.redirectCode) && rd.redirectCode !== 0 && (rd.redirectCode < 300 || rd.redirectCode > 399)) {
      e.add(`${p}.redirect.redirectCode`, `must be a 3xx redirect code, got ${rd.redirectCode}`);
    }
  }
  if (isSet(r.directResponse)) {
    e.check(`${p}.directResponse.status`, rangeProblem(r.directResponse.status, 200, 599));
    const body = r.directResponse.body;
    if (isSet(body) && isSet(body.string) && isSet(body.bytes)) {
      e.add(`${p}.directResponse.body`, 'only one of string or bytes may be set');
    }
  }
  if (isSet(r.rewrite)) {
    const rw = r.rewrite;
    if (isSet(rw.uri) && isSet(rw.uriRegexRewrite)) e.add(`${p}.rewrite`, 'only one of uri or uriRegexRewrite may be set');
    if (isSet(rw.uriRegexRewrite)) {
      const rr = rw.uriRegexRewrite;
      if (!isSet(rr.match) || rr.match === '') e.add(`${p}.rewrite.uriRegexRewrite.match`, 'required');
      else e.check(`${p}.rewrite.uriRegexRewrite.match`, regexProblem(rr.match));
      if (!isSet(rr.rewrite)) e.add(`${p}.rewrite.uriRegexRewrite.rewrite`, 'required');
    }
  }
  if (isSet(r.timeout)) e.check(`${p}.timeout`, durationProblem(r.timeout, { min: '0' }));
  if (isSet(r.retries)) validateRetries(e, `${p}.retries`, r.retries);
  if (isSet(r.fault)) validateFault(e, `${p}.fault`, r.fault);
  validateMirrors(e, p, r);
  if (isSet(r.corsPolicy)) validateCors(e, `${p}.corsPolicy`, r.corsPolicy);
  validateHeaders(e, `${p}.headers`, r.headers);
}

function validateHTTPMatch(e: ErrorList, p: string, m: HTTPMatchRequest): void {
  for (const field of ['uri', 'scheme', 'method', 'authority'] as const) validateStringMatch(e, `${p}.${field}`, m[field]);
  for (const field of ['headers', 'withoutHeaders'] as const) {
    for (const [name] of entries(m[field])) {
      if (name !== '') e.check(`${p}.${field}[${name}]`, headerNameProblem(name));
    }
    validateStringMatchMap(e, `${p}.${field}`, m[field]);
  }
  validateStringMatchMap(e, `${p}.queryParams`, m.queryParams);
  if (isSet(m.port) && m.port !== 0) e.check(`${p}.port`, portProblem(m.port));
  validateLabels(e, `${p}.sourceLabels`, m.sourceLabels);
  list(m.gateways).forEach((g, i) => e.check(`${p}.gateways[${i}]`, gatewayRefProblem(g)));
  if (isSet(m.sourceNamespace) && m.sourceNamespace !== '') {
    e.check(`${p}.sourceNamespace`, namespaceProblem(m.sourceNamespace));
  }
}

function validateDestination(e: ErrorList, p: string, d: Destination | undefined): void {
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
      for (const [name] of entries(ops[op])) {
        const authority = side === 'request' && (name === ':authority' || name.toLowerCase() === 'host');
        if (!authority) e.check(`${p}.${side}.${op}[${name}]`, headerNameProblem(name));
      }
    }
    list(ops.remove).forEach((name, i) => e.check(`${p}.${side}.remove[${i}]`, headerNameProblem(name)));
  }
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
    if (isSet(a.httpStatus)) e.check(`${p}.abort.httpStatus`, rangeProblem(a.httpStatus, 200, 599));
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
  validateWeights(e, p, routes);
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

function validateTLSRoute(e: ErrorList, p: string, r: TLSRoute, hosts: readonly string[]): void {
  const matches = list(r.match);
  if (matches.length === 0) e.add(`${p}.match`, 'at least one match is required');
  matches.forEach((m, i) => {
    const mp = `${p}.match[${i}]`;
    const snis = list(m.sniHosts);
    if (snis.length === 0) e.add(`${mp}.sniHosts`, 'at least one SNI host is required');
    snis.forEach((sni, j) => {
      const problem = hostProblem(sni, { wildcard: true });
      if (problem) e.add(`${mp}.sniHosts[${j}]`, problem);
      else if (hosts.length > 0 && !hosts.some((h) => covers(h, sni))) {
        e.add(`${mp}.sniHosts[${j}]`, `${JSON.stringify(sni)} is not covered by the VirtualService hosts`);
      }
    });
    validateL4Match(e, mp, m);
  });
  validateL4Routes(e, `${p}.route`, list(r.route));
}
