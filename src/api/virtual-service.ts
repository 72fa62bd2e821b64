// VirtualService spec (networking.istio.io/v1): traffic routing rules for HTTP, TLS and TCP.
import type { Labels, Percent, PortSelector, StringMatch } from './common.js';

export interface VirtualServiceSpec {
  /** Destination hosts; empty for a delegate VirtualService. */
  hosts?: string[];
  /** Gateways and sidecars (`mesh`) that apply these routes; `<namespace>/<name>` allowed. */
  gateways?: string[];
  http?: HTTPRoute[];
  tls?: TLSRoute[];
  tcp?: TCPRoute[];
  exportTo?: string[];
}

export interface Destination {
  host: string;
  subset?: string;
  port?: PortSelector;
}

export interface HeaderOperations {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

export interface Headers {
  request?: HeaderOperations;
  response?: HeaderOperations;
}

export interface HTTPRoute {
  name?: string;
  match?: HTTPMatchRequest[];
  route?: HTTPRouteDestination[];
  redirect?: HTTPRedirect;
  directResponse?: HTTPDirectResponse;
  delegate?: Delegate;
  rewrite?: HTTPRewrite;
  timeout?: string;
  retries?: HTTPRetry;
  fault?: HTTPFaultInjection;
  mirror?: Destination;
  mirrors?: HTTPMirrorPolicy[];
  /** Deprecated: use mirrorPercentage. */
  mirrorPercent?: number | null;
  /** Deprecated alias of mirrorPercent. */
  mirror_percent?: number | null;
  mirrorPercentage?: Percent;
  corsPolicy?: CorsPolicy;
  headers?: Headers;
}

export interface HTTPMatchRequest {
  name?: string;
  uri?: StringMatch;
  scheme?: StringMatch;
  method?: StringMatch;
  authority?: StringMatch;
  headers?: Record<string, StringMatch>;
  port?: number;
  sourceLabels?: Labels;
  gateways?: string[];
  queryParams?: Record<string, StringMatch>;
  ignoreUriCase?: boolean;
  withoutHeaders?: Record<string, StringMatch>;
  sourceNamespace?: string;
  statPrefix?: string;
}

export interface HTTPRouteDestination {
  destination: Destination;
  weight?: number;
  headers?: Headers;
}

export interface RouteDestination {
  destination: Destination;
  weight?: number;
}

export type RedirectDerivePort = 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT';

export interface HTTPRedirect {
  uri?: string;
  /** Replaces the matched prefix of the path (the match must be a prefix match); not with `uri`. */
  prefixRewrite?: string;
  authority?: string;
  port?: number;
  derivePort?: RedirectDerivePort;
  scheme?: string;
  redirectCode?: number;
}

export interface HTTPDirectResponse {
  status: number;
  body?: HTTPBody;
}

/** One of string or bytes (base64). */
export interface HTTPBody {
  string?: string;
  bytes?: string;
}

export interface Delegate {
  name?: string;
  namespace?: string;
}

export interface RegexRewrite {
  match?: string;
  rewrite?: string;
}

export interface HTTPRewrite {
  uri?: string;
  authority?: string;
  uriRegexRewrite?: RegexRewrite;
}

export interface HTTPRetry {
  attempts?: number;
  perTryTimeout?: string;
  retryOn?: string;
  retryRemoteLocalities?: boolean | null;
  retryIgnorePreviousHosts?: boolean | null;
  backoff?: string;
}

export interface HTTPFaultInjection {
  delay?: FaultDelay;
  abort?: FaultAbort;
}

export interface FaultDelay {
  fixedDelay?: string;
  exponentialDelay?: string;
  percentage?: Percent;
  /** Deprecated: use percentage. */
  percent?: number;
}

export interface FaultAbort {
  httpStatus?: number;
  grpcStatus?: string;
  http2Error?: string;
  percentage?: Percent;
}

export interface HTTPMirrorPolicy {
  destination: Destination;
  percentage?: Percent;
}

export type UnmatchedPreflights = 'UNSPECIFIED' | 'FORWARD' | 'IGNORE';

export interface CorsPolicy {
  /** Deprecated: use allowOrigins. */
  allowOrigin?: string[];
  allowOrigins?: StringMatch[];
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  maxAge?: string;
  allowCredentials?: boolean | null;
  unmatchedPreflights?: UnmatchedPreflights;
}

export interface TLSRoute {
  match: TLSMatchAttributes[];
  route?: RouteDestination[];
}

export interface TLSMatchAttributes {
  sniHosts: string[];
  destinationSubnets?: string[];
  port?: number;
  sourceLabels?: Labels;
  gateways?: string[];
  sourceNamespace?: string;
}

export interface TCPRoute {
  match?: L4MatchAttributes[];
  route?: RouteDestination[];
}

export interface L4MatchAttributes {
  destinationSubnets?: string[];
  port?: number;
  sourceSubnet?: string;
  sourceLabels?: Labels;
  gateways?: string[];
  sourceNamespace?: string;
}
