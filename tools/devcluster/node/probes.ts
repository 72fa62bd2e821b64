// Readiness and liveness probes, run from the node like the kubelet's.
import http from 'node:http';
import net from 'node:net';
import type { V1Container, V1Probe } from '@kubernetes/client-node';

export function resolvePort(container: V1Container, port: number | string | undefined): number {
  if (typeof port === 'number') return port;
  if (port === undefined) throw new Error('probe has no port');
  if (/^\d+$/.test(port)) return Number(port);
  const named = container.ports?.find((p) => p.name === port);
  if (!named) throw new Error(`probe port "${port}" is not a named port of container ${container.name}`);
  return named.containerPort;
}

/** One probe attempt; resolves true on success. exec probes are run by `execIn`. */
export async function probeOnce(
  probe: V1Probe,
  container: V1Container,
  podIp: string,
  execIn: (cmd: string[], timeoutMs: number) => Promise<boolean>,
): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const g = probe.httpGet;
    const port = resolvePort(container, g.port as number | string);
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.34' };
    for (const h of g.httpHeaders ?? []) headers[h.name] = h.value;
    return new Promise((resolve) => {
      const req = http.get({ host: g.host || podIp, port, path: g.path ?? '/', headers, timeout: timeoutMs }, (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 400);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
    });
  }
  if (probe.tcpSocket) {
    const port = resolvePort(container, probe.tcpSocket.port as number | string);
    return new Promise((resolve) => {
      const sock = net.connect({ host: probe.tcpSocket?.host || podIp, port, timeout: timeoutMs });
      sock.on('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.on('timeout', () => {
        sock.destroy();
        resolve(false);
      });
      sock.on('error', () => resolve(false));
    });
  }
  if (probe.exec?.command) return execIn(probe.exec.command, timeoutMs);
  return true;
}
