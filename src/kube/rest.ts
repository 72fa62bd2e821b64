// A small REST client over the kubeconfig's credentials, for the calls where exact content
// types matter (merge patches of status, JSON patches) and for listing any path.
import { createHash } from 'node:crypto';
import https from 'node:https';
import http from 'node:http';
import { apiUrl, type KubeAccess } from './access.js';

/**
 * Connections to the API server are kept and reused: the kubeconfig builds a new agent (a new
 * TLS handshake) per request, which made each TokenReview of the mesh CA cost a handshake.
 * One agent per set of TLS credentials (a rotated client certificate gets a new one).
 */
const agents = new Map<string, https.Agent>();
function keepAliveAgent(opts: https.RequestOptions): https.Agent {
  const key = createHash('sha256')
    .update(JSON.stringify([opts.ca, opts.cert, opts.key, opts.rejectUnauthorized, opts.servername].map((x) => (x === undefined ? null : String(x)))))
    .digest('hex');
  let agent = agents.get(key);
  if (!agent) {
    if (agents.size >= 8) agents.clear();
    agent = new https.Agent({ keepAlive: true, maxSockets: 32, ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: opts.rejectUnauthorized, servername: opts.servername });
    agents.set(key, agent);
  }
  return agent;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export class Rest {
  private readonly server: URL;
  constructor(readonly kc: KubeAccess) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    // A URL, not host and port: Node strips an IPv6 address's brackets from it, and a path
    // prefix of the server URL stays.
    const url = apiUrl(this.server.href, path);
    const opts: https.RequestOptions = { method, headers: { accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(opts);
    if (this.server.protocol === 'https:') opts.agent = keepAliveAgent(opts);
    const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    if (payload) opts.headers = { ...opts.headers, 'content-type': contentType, 'content-length': payload.length };
    const transport = this.server.protocol === 'http:' ? http : https;
    return new Promise<T>((resolve, reject) => {
      const req = transport.request(url, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve((text ? JSON.parse(text) : {}) as T);
            return;
          }
          let message = text;
          let reason = '';
          try {
            const s = JSON.parse(text) as { message?: string; reason?: string };
            message = s.message ?? text;
            reason = s.reason ?? '';
          } catch {
            /* not a Status object */
          }
          reject(new ApiError(status, reason, `${method} ${path}: ${status} ${message}`));
        });
      });
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  delete<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('DELETE', path, body);
  }

  mergePatch<T>(path: string, patch: unknown): Promise<T> {
    return this.request<T>('PATCH', path, patch, 'application/merge-patch+json');
  }

  jsonPatch<T>(path: string, ops: unknown[]): Promise<T> {
    return this.request<T>('PATCH', path, ops, 'application/json-patch+json');
  }
}
