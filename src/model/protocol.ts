// How a sidecar treats a service port, from Istio's protocol name (which the model derives from
// the port's appProtocol or name prefix): HTTP through the HTTP connection manager, everything
// else (TLS, HTTPS, TCP, databases, and unknown) as opaque TCP.

export type ListenerProtocol = 'http' | 'tcp';

const HTTP = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);
const H2 = new Set(['HTTP2', 'GRPC']);

/** `http` for HTTP, HTTP2, gRPC and gRPC-Web ports; `tcp` for the rest. */
export function listenerProtocol(istioProtocol: string): ListenerProtocol {
  return HTTP.has(istioProtocol.toUpperCase()) ? 'http' : 'tcp';
}

export function isHttp(istioProtocol: string): boolean {
  return listenerProtocol(istioProtocol) === 'http';
}

/** Upstream connections speak HTTP/2 (h2c) for HTTP2 and gRPC ports. */
export function isHttp2(istioProtocol: string): boolean {
  return H2.has(istioProtocol.toUpperCase());
}
