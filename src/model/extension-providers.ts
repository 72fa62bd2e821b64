// The extension providers of the mesh configuration (Istio's MeshConfig extensionProviders) as
// CUSTOM AuthorizationPolicies use them: checked as Istio checks them before use, the
// authorizer's Service resolved to the outbound cluster that reaches it. Pure.
import type { EnvoyExtAuthzGrpcProvider, EnvoyExtAuthzHttpProvider, ExtensionProvider } from '../api/mesh-config.js';
import { parseDurationNs } from '../util/duration.js';

/** How a provider's `service` resolves: its FQDN and the cluster that reaches it on `port`. */
export type ServiceLookup = (service: string, port: number) => { host: string; cluster: string } | undefined;

/** A provider ready to use, or why it is not. */
export type ResolvedProvider =
  | { name: string; kind: 'http'; config: EnvoyExtAuthzHttpProvider; host: string; cluster: string }
  | { name: string; kind: 'grpc'; config: EnvoyExtAuthzGrpcProvider; host: string; cluster: string }
  | { name: string; problem: string };

/** Checks a provider as Istio does before using it. */
export function resolveProvider(p: ExtensionProvider, lookup: ServiceLookup): ResolvedProvider {
  const config = p.envoyExtAuthzHttp ?? p.envoyExtAuthzGrpc;
  if (!config) return { name: p.name, problem: 'not an envoyExtAuthzHttp or envoyExtAuthzGrpc provider' };
  const port = config.port ?? 0;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { name: p.name, problem: `port ${port} is not between 1 and 65535` };
  if (config.statusOnError !== undefined && !/^[1-5]\d\d$/.test(config.statusOnError)) return { name: p.name, problem: `statusOnError ${config.statusOnError} is not an HTTP status` };
  if (p.envoyExtAuthzHttp?.pathPrefix !== undefined && !p.envoyExtAuthzHttp.pathPrefix.startsWith('/')) return { name: p.name, problem: `pathPrefix ${p.envoyExtAuthzHttp.pathPrefix} must start with /` };
  if (config.timeout !== undefined && parseDurationNs(config.timeout.trim()) === undefined) return { name: p.name, problem: `timeout ${config.timeout} is not a duration` };
  const found = lookup(config.service ?? '', port);
  if (!found) return { name: p.name, problem: `service ${config.service ?? ''} port ${port} is not in the mesh` };
  return p.envoyExtAuthzHttp ? { name: p.name, kind: 'http', config: p.envoyExtAuthzHttp, ...found } : { name: p.name, kind: 'grpc', config: p.envoyExtAuthzGrpc!, ...found };
}

/**
 * Resolves a provider's `[<namespace>/]<hostname>` against the mesh's services (Kubernetes
 * Services and ServiceEntries), as Istio does: the host must exist (in that namespace, when one
 * is named) and serve the port; the cluster is the outbound cluster every proxy has for it.
 */
export function serviceLookup(byHost: (host: string) => readonly { namespace: string; ports: readonly { number: number }[] }[]): ServiceLookup {
  return (service, port) => {
    const slash = service.indexOf('/');
    const [namespace, host] = slash >= 0 ? [service.slice(0, slash), service.slice(slash + 1)] : [undefined, service];
    const found = byHost(host).find((s) => (namespace === undefined || s.namespace === namespace) && s.ports.some((p) => p.number === port));
    return found ? { host, cluster: `outbound|${port}||${host}` } : undefined;
  };
}
