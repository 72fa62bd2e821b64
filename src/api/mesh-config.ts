// The part of Istio's MeshConfig (the `mesh` key of istiod's ConfigMap, YAML) that Trellis reads:
// the extension providers CUSTOM AuthorizationPolicies name. Field names as Istio's.

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

export interface ExtensionProvider {
  name: string;
  envoyExtAuthzHttp?: EnvoyExtAuthzHttpProvider;
  envoyExtAuthzGrpc?: EnvoyExtAuthzGrpcProvider;
}

export interface MeshConfig {
  extensionProviders?: ExtensionProvider[];
  /** Trust domains whose identities count as the mesh's own in AuthorizationPolicy principals (a migration from an old trust domain). */
  trustDomainAliases?: string[];
}
