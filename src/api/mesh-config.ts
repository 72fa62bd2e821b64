// The part of Istio's MeshConfig (the `mesh` key of istiod's ConfigMap, YAML) that Trellis reads:
// the extension providers CUSTOM AuthorizationPolicies and Telemetry access logs name, and the
// built-in `envoy` access log's format. Field names as Istio's.

/** Istio's envoyExtAuthzHttp provider: an HTTP authorizer, asked with the request's headers. */
export interface EnvoyExtAuthzHttpProvider {
  /** `[<namespace>/]<hostname>` of a Service or ServiceEntry. */
  service?: string;
  port?: number;
  timeout?: string;
  pathPrefix?: string;
  failOpen?: boolean;
  statusOnError?: string;
  includeRequestHeadersInCheck?: string[];
  includeAdditionalHeadersInCheck?: Record<string, string>;
  includeRequestBodyInCheck?: ExtAuthzRequestBody;
  headersToUpstreamOnAllow?: string[];
  headersToDownstreamOnDeny?: string[];
  headersToDownstreamOnAllow?: string[];
}

/** Istio's envoyExtAuthzGrpc provider: Envoy's ext_authz gRPC service (also on TCP). */
export interface EnvoyExtAuthzGrpcProvider {
  service?: string;
  port?: number;
  timeout?: string;
  failOpen?: boolean;
  statusOnError?: string;
  includeRequestBodyInCheck?: ExtAuthzRequestBody;
}

export interface ExtAuthzRequestBody {
  maxRequestBytes?: number;
  allowPartialMessage?: boolean;
  packAsBytes?: boolean;
}

/** Istio's envoyFileAccessLog provider: Envoy writes each request or connection to a file. */
export interface EnvoyFileAccessLogProvider {
  /** Default /dev/stdout. */
  path?: string;
  /** One of text (Envoy's format string) and labels (a JSON object, each value a format string); neither: Istio's text format. */
  logFormat?: { text?: string; labels?: Record<string, unknown> };
  omitEmptyValues?: boolean;
}

export interface ExtensionProvider {
  name: string;
  envoyExtAuthzHttp?: EnvoyExtAuthzHttpProvider;
  envoyExtAuthzGrpc?: EnvoyExtAuthzGrpcProvider;
  envoyFileAccessLog?: EnvoyFileAccessLogProvider;
}

export interface MeshConfig {
  extensionProviders?: ExtensionProvider[];
  /** The providers used where no Telemetry names any (Istio's defaultProviders); only accessLogging is read. */
  defaultProviders?: { accessLogging?: string[] };
  /** The built-in `envoy` access log's encoding (default TEXT) and format (default Istio's). */
  accessLogEncoding?: 'TEXT' | 'JSON';
  accessLogFormat?: string;
  /** Trust domains whose identities count as the mesh's own in AuthorizationPolicy principals (a migration from an old trust domain). */
  trustDomainAliases?: string[];
  /** Istio's metrics merging at injection (default true): pods are scraped at the agent, which adds the app's metrics. */
  enablePrometheusMerge?: boolean;
}
