// How the control plane reaches the API server: its URL, the TLS material and the credentials
// each request carries. Read from the pod's service account (in a cluster) or from a kubeconfig
// file (a developer's machine), without @kubernetes/client-node's KubeConfig: importing that
// loads the whole generated API client, about 65 MiB of resident memory and 26 MiB of heap in a
// process that never calls it (BENCHMARKS.md, "Where the control plane's memory goes"). A
// kubeconfig whose user needs a plug-in (exec, auth-provider) or a proxy is still handed to
// KubeConfig, loaded only then.
import fs from 'node:fs';
import type https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import yaml from 'js-yaml';

/** What Rest and the watch need of a cluster; client-node's KubeConfig has the same shape. */
export interface KubeAccess {
  getCurrentCluster(): { server: string } | null;
  /** Adds the CA, client certificate, server name and credentials to a request's options. */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

/** The URL of an API path on `server`, keeping a path prefix the server URL has (a proxy's). */
export function apiUrl(server: string, path: string): URL {
  return new URL(server.replace(/\/+$/, '') + path);
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Bound service account tokens rotate (the kubelet rewrites the file); re-read this often. */
const TOKEN_REREAD_MS = 60_000;

interface Credentials {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
  token?: string;
  tokenFile?: string;
  basic?: { username: string; password: string };
}

/** A cluster reached with a CA, client certificates, a token (or token file) or basic auth. */
export class ClusterAccess implements KubeAccess {
  private token?: { value: string; readAt: number };

  constructor(
    readonly server: string,
    private readonly creds: Credentials,
    private readonly now: () => number = Date.now,
  ) {}

  getCurrentCluster(): { server: string } {
    return { server: this.server };
  }

  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const c = this.creds;
    if (c.ca) opts.ca = c.ca;
    if (c.cert) opts.cert = c.cert;
    if (c.key) opts.key = c.key;
    if (c.insecureSkipTlsVerify) opts.rejectUnauthorized = false;
    if (c.tlsServerName) opts.servername = c.tlsServerName;
    const token = this.bearerToken();
    const headers = (opts.headers ?? {}) as Record<string, string | number | string[]>;
    if (token) headers.authorization = `Bearer ${token}`;
    else if (c.basic) headers.authorization = `Basic ${Buffer.from(`${c.basic.username}:${c.basic.password}`).toString('base64')}`;
    opts.headers = headers;
    return Promise.resolve();
  }

  private bearerToken(): string | undefined {
    // As client-go: a token file, when given, wins over a token.
    const file = this.creds.tokenFile;
    if (!file) return this.creds.token;
    const now = this.now();
    if (!this.token || now - this.token.readAt >= TOKEN_REREAD_MS) {
      try {
        this.token = { value: fs.readFileSync(file, 'utf8').trim(), readAt: now };
      } catch (err) {
        // Keep the last token we read: the kubelet replaces the file by renaming, and a request
        // with a token about to expire beats one with none.
        if (!this.token) throw new Error(`cannot read the service account token ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
    return this.token.value;
  }
}

/**
 * The API server as a pod sees it: KUBERNETES_SERVICE_HOST/PORT and the service account's CA
 * and token under `dir`.
 */
export function inClusterAccess(env: NodeJS.ProcessEnv = process.env, dir = SA_DIR): ClusterAccess {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error('no Kubernetes API to talk to: pass --kubeconfig (or set KUBECONFIG), or run in a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT)');
  const caFile = path.join(dir, 'ca.crt');
  let ca: Buffer;
  try {
    ca = fs.readFileSync(caFile);
  } catch (err) {
    throw new Error(`running in a pod (KUBERNETES_SERVICE_HOST is set) but the service account's CA ${caFile} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  return new ClusterAccess(`https://${net.isIPv6(host) ? `[${host}]` : host}:${port}`, { ca, tokenFile: path.join(dir, 'token') });
}

/** The kubeconfig file's error: names the file and what is wrong in it. */
export class KubeconfigError extends Error {
  constructor(file: string, problem: string, options?: ErrorOptions) {
    super(`kubeconfig ${file}: ${problem}`, options);
    this.name = 'KubeconfigError';
  }
}

/** Fields of a kubeconfig user or cluster that this reader does not handle itself. */
const NEEDS_KUBECONFIG = { user: ['exec', 'auth-provider', 'as', 'as-groups', 'as-uid', 'as-user-extra'], cluster: ['proxy-url'] };

/**
 * The current context of a kubeconfig file, or undefined when it needs client-node's KubeConfig
 * (an exec or auth-provider plug-in, impersonation, a proxy). Relative file paths in it are
 * relative to the file, as kubectl reads them.
 */
export function kubeconfigAccess(file: string, text = fs.readFileSync(file, 'utf8'), now: () => number = Date.now): ClusterAccess | undefined {
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (err) {
    throw new KubeconfigError(file, `not YAML: ${(err as Error).message}`, { cause: err });
  }
  if (!isRecord(doc)) throw new KubeconfigError(file, 'not a kubeconfig (no mapping at the top)');
  const contextName = doc['current-context'];
  if (typeof contextName !== 'string' || !contextName) throw new KubeconfigError(file, 'current-context is not set');
  const context = entry(file, doc, 'contexts', 'context', contextName);
  const clusterName = context.cluster;
  if (typeof clusterName !== 'string') throw new KubeconfigError(file, `context ${contextName} names no cluster`);
  const cluster = entry(file, doc, 'clusters', 'cluster', clusterName);
  const userName = context.user;
  const user = typeof userName === 'string' && userName ? entry(file, doc, 'users', 'user', userName) : {};
  if (NEEDS_KUBECONFIG.user.some((k) => user[k] !== undefined) || NEEDS_KUBECONFIG.cluster.some((k) => cluster[k] !== undefined)) return undefined;
  const server = cluster.server;
  if (typeof server !== 'string' || !server) throw new KubeconfigError(file, `cluster ${clusterName} has no server`);
  try {
    new URL(server);
  } catch {
    throw new KubeconfigError(file, `cluster ${clusterName}: server ${server} is not a URL`);
  }
  const dir = path.dirname(file);
  const material = (where: string, obj: Record<string, unknown>, dataKey: string, fileKey: string): Buffer | undefined => {
    const data = obj[dataKey];
    if (typeof data === 'string' && data) return Buffer.from(data, 'base64');
    const f = obj[fileKey];
    if (typeof f !== 'string' || !f) return undefined;
    const p = path.resolve(dir, f);
    try {
      return fs.readFileSync(p);
    } catch (err) {
      throw new KubeconfigError(file, `${where}: ${fileKey} ${p} cannot be read: ${(err as Error).message}`, { cause: err });
    }
  };
  const tokenFile = typeof user.tokenFile === 'string' && user.tokenFile ? path.resolve(dir, user.tokenFile) : undefined;
  const basic = typeof user.username === 'string' && user.username ? { username: user.username, password: typeof user.password === 'string' ? user.password : '' } : undefined;
  return new ClusterAccess(server, {
    ca: material(`cluster ${clusterName}`, cluster, 'certificate-authority-data', 'certificate-authority'),
    cert: material(`user ${String(userName)}`, user, 'client-certificate-data', 'client-certificate'),
    key: material(`user ${String(userName)}`, user, 'client-key-data', 'client-key'),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    tlsServerName: typeof cluster['tls-server-name'] === 'string' ? cluster['tls-server-name'] : undefined,
    token: typeof user.token === 'string' && user.token ? user.token : undefined,
    tokenFile,
    basic,
  }, now);
}

function entry(file: string, doc: Record<string, unknown>, list: string, field: string, name: string): Record<string, unknown> {
  const items = doc[list];
  const found = Array.isArray(items) ? (items as unknown[]).find((i): i is Record<string, unknown> => isRecord(i) && i.name === name) : undefined;
  if (!found) throw new KubeconfigError(file, `${list} has no entry named ${name}`);
  const value = found[field];
  if (!isRecord(value)) throw new KubeconfigError(file, `${list} entry ${name} has no ${field}`);
  return value;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * The cluster to use: a kubeconfig file when `file` is given (a developer's machine), the pod's
 * service account otherwise.
 */
export async function loadKubeAccess(file: string | undefined): Promise<KubeAccess> {
  if (!file) return inClusterAccess();
  const access = kubeconfigAccess(file);
  if (access) return access;
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}
