// The agent's side of the rewritten app probes (src/webhooks/probes.ts): on 15020 it answers the
// kubelet's `GET /app-health/<container>/<kind>z` by probing the app itself, from inside the
// pod on loopback, with the kubelet's rules: an HTTP status from 200 to 399, or a TCP connection
// accepted, within the probe's timeout (default 1 s). Anything else answers 503, and a path it
// was not given 404. The agent runs as the proxy's user, whose connections iptables never
// captures, so the probe reaches the app directly.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Logger } from '../util/logger.js';

const DEFAULT_TIMEOUT_MS = 1000;

export const AGENT_STATUS_PORT = 15020;
/** The injector hands the agent the original probes in this variable, as JSON keyed by path. */
export const APP_PROBERS_ENV = 'ISTIO_KUBE_APP_PROBERS';

/** What the agent performs for one rewritten probe (the original's action, port resolved). */
export interface AppProber {
  httpGet?: { path?: string; port: number; scheme?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number };
  timeoutSeconds?: number;
}

/** Parses ISTIO_KUBE_APP_PROBERS; a malformed value is logged and probes nothing. */
export function parseAppProbers(text: string | undefined, log: Logger): Map<string, AppProber> {
  if (!text) return new Map();
  try {
    const parsed = JSON.parse(text) as Record<string, AppProber>;
    return new Map(Object.entries(parsed).filter(([path, p]) => path.startsWith('/app-health/') && (p?.httpGet?.port || p?.tcpSocket?.port)));
  } catch (err) {
    log.error('ISTIO_KUBE_APP_PROBERS is not JSON; app probes answer 404', { error: (err as Error).message });
    return new Map();
  }
}

function probeHttp(p: NonNullable<AppProber['httpGet']>, timeoutMs: number): Promise<string | undefined> {
  const secure = p.scheme?.toUpperCase() === 'HTTPS';
  const headers = Object.fromEntries((p.httpHeaders ?? []).map((h) => [h.name, h.value]));
  return new Promise((resolve) => {
    // The kubelet does not verify an HTTPS probe's certificate; neither does this.
    const req = (secure ? https : http).request(
      { host: '127.0.0.1', port: p.port, path: p.path ?? '/', method: 'GET', headers: { 'user-agent': 'kube-probe/trellis', ...headers }, timeout: timeoutMs, ...(secure ? { rejectUnauthorized: false } : {}) },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 400 ? undefined : `HTTP ${code}`);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve(err.message));
    req.end();
  });
}

function probeTcp(port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, timeout: timeoutMs });
    socket.on('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.on('timeout', () => socket.destroy(new Error(`not accepted within ${timeoutMs} ms`)));
    socket.on('error', (err) => resolve(err.message));
  });
}

/** Runs one prober: undefined when healthy, else why not. */
export function runProber(p: AppProber): Promise<string | undefined> {
  const timeoutMs = (p.timeoutSeconds ?? 0) > 0 ? p.timeoutSeconds! * 1000 : DEFAULT_TIMEOUT_MS;
  if (p.httpGet) return probeHttp(p.httpGet, timeoutMs);
  if (p.tcpSocket) return probeTcp(p.tcpSocket.port, timeoutMs);
  return Promise.resolve('nothing to probe');
}

/** Answers the kubelet's rewritten probes (status-server.ts routes them here). */
export function answerAppProbe(probers: ReadonlyMap<string, AppProber>, req: http.IncomingMessage, res: http.ServerResponse, log: Logger): void {
  const path = (req.url ?? '').split('?')[0] ?? '';
  const p = probers.get(path);
  if (!p || req.method !== 'GET') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('no such app probe\n');
    return;
  }
  void runProber(p).then((problem) => {
    if (problem) log.debug('app probe failed', { path, problem });
    res.writeHead(problem ? 503 : 200, { 'content-type': 'text/plain' }).end(problem ? `${problem}\n` : 'ok\n');
  });
}

export function appProbeServer(probers: ReadonlyMap<string, AppProber>, log: Logger): http.Server {
  return http.createServer((req, res) => answerAppProbe(probers, req, res, log));
}
