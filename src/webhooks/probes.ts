// The kubelet's probes of an injected pod's app, rewritten as Istio rewrites them: the kubelet
// asks the agent on 15020 (`/app-health/<container>/readyz|livez|startupz`, never captured by
// iptables), and the agent probes the app from inside the pod, on loopback. Without this the
// kubelet's probes would be inbound traffic like any other: refused under STRICT mTLS (the
// kubelet has no mesh certificate) and by any AuthorizationPolicy that does not allow them.
// The original probes go to the agent in ISTIO_KUBE_APP_PROBERS (Istio's name and format).
// `sidecar.istio.io/rewriteAppHTTPProbers: "false"` (or the trellis.io name) keeps them as they are.
// Pure.
import type { V1Container, V1Pod, V1Probe } from '@kubernetes/client-node';
// The format is the agent's (it reads it): the injector follows it, never the other way round.
import { AGENT_STATUS_PORT, type AppProber } from '../sidecar/agent-contract.js';

const KINDS = [
  ['readinessProbe', 'readyz'],
  ['livenessProbe', 'livez'],
  ['startupProbe', 'startupz'],
] as const;

function rewriteDisabled(pod: V1Pod): boolean {
  const a = pod.metadata?.annotations ?? {};
  const v = a['sidecar.trellis.io/rewriteAppHTTPProbers'] ?? a['sidecar.istio.io/rewriteAppHTTPProbers'];
  return v !== undefined && v.toLowerCase() === 'false';
}

/** A probe's port as a number (a named port is the container's port of that name). */
function portOf(c: V1Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  if (port === undefined) return undefined;
  if (/^\d+$/.test(port)) return Number(port);
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

function prober(c: V1Container, probe: V1Probe): AppProber | undefined {
  const timeout = probe.timeoutSeconds !== undefined ? { timeoutSeconds: probe.timeoutSeconds } : {};
  if (probe.httpGet) {
    const port = portOf(c, probe.httpGet.port as number | string);
    if (port === undefined) return undefined;
    const g = probe.httpGet;
    return { httpGet: { port, ...(g.path ? { path: g.path } : {}), ...(g.scheme ? { scheme: g.scheme } : {}), ...(g.httpHeaders?.length ? { httpHeaders: g.httpHeaders } : {}) }, ...timeout };
  }
  if (probe.tcpSocket) {
    const port = portOf(c, probe.tcpSocket.port as number | string);
    return port === undefined ? undefined : { tcpSocket: { port }, ...timeout };
  }
  // gRPC and exec probes are left as they are (exec runs in the container, not over the network).
  return undefined;
}

/**
 * The app containers with their HTTP and TCP probes pointed at the agent, and what the agent
 * must probe in their place, keyed by the path the kubelet now asks for.
 */
export function rewriteAppProbes(pod: V1Pod): { containers: V1Container[]; probers: Record<string, AppProber> } {
  const containers = pod.spec?.containers ?? [];
  const probers: Record<string, AppProber> = {};
  if (rewriteDisabled(pod)) return { containers, probers };
  const rewritten = containers.map((c) => {
    const out: V1Container = { ...c };
    for (const [field, suffix] of KINDS) {
      const probe = c[field];
      if (!probe) continue;
      const p = prober(c, probe);
      if (!p) continue;
      const path = `/app-health/${c.name}/${suffix}`;
      probers[path] = p;
      const rest: V1Probe = { ...probe };
      delete rest.tcpSocket;
      out[field] = { ...rest, httpGet: { path, port: AGENT_STATUS_PORT as never, scheme: 'HTTP' } };
    }
    return out;
  });
  return { containers: rewritten, probers };
}
