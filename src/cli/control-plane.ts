// trellisctl's client for the control plane's monitoring port (15014): /debug/syncz (the
// connected proxies and their xDS state) and /debug/config_dump?proxy=ID (what Trellis gives
// one proxy: {id, resources: {cds, lds, rds, eds, sds: {name: resource}}}). Errors name the URL
// and what to do.

export const DEFAULT_CONTROL_PLANE = 'http://127.0.0.1:15014';

/** One connected proxy in /debug/syncz (the xDS server's ProxyRegistry, as JSON). */
export interface SyncStatus {
  id: string;
  info: { id: string; kind: string; podName?: string; namespace?: string; ip?: string; userAgent?: string; cluster?: string };
  connectedAt: string;
  streams: {
    id: string;
    service: string;
    protocol: 'sotw' | 'delta';
    openedAt: string;
    types: {
      typeUrl: string;
      wildcard: boolean;
      subscribed: number;
      acked: number;
      ackedVersion: string;
      inflightNonce?: string;
      rejected: { name: string; version: string; message: string }[];
    }[];
  }[];
  nacks: { at: string; typeUrl: string; streamId: string; nonce: string; version: string; code: number; message: string; rejected: string[] }[];
}

/** Envoy's admin ConfigDump (the parts trellisctl reads). */
export interface EnvoyConfigDump {
  configs: ({ '@type': string } & Record<string, unknown>)[];
}

/** Trellis's /debug/config_dump: the proxy's resources by short type name and resource name. */
export interface TrellisConfigDump {
  id: string;
  resources: Partial<Record<'cds' | 'lds' | 'rds' | 'eds' | 'sds', Record<string, Record<string, unknown>>>>;
}

/** What proxy-config reads: Trellis's dump, or an Envoy admin /config_dump of the same proxy. */
export type ConfigDump = TrellisConfigDump | EnvoyConfigDump;

export class ControlPlaneError extends Error {}

export class ControlPlane {
  readonly base: string;

  constructor(
    url: string,
    /** A bearer token for the debug pages (see kube/debug-access.ts). */
    readonly bearer?: string,
  ) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new ControlPlaneError(`--control-plane: want a URL such as ${DEFAULT_CONTROL_PLANE}, got "${url}"`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ControlPlaneError(`--control-plane: want an http:// or https:// URL, got "${url}"`);
    this.base = u.toString().replace(/\/$/, '');
  }

  private async get(path: string, what: string): Promise<unknown> {
    const url = `${this.base}${path}`;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(10_000), headers: this.bearer ? { authorization: `Bearer ${this.bearer}` } : {} });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ControlPlaneError(
        `cannot reach the control plane at ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}\n` +
          `  pass --control-plane http://HOST:15014 (the monitoring port of the trellis Service, e.g. its ClusterIP, or a kubectl port-forward)`,
      );
    }
    const body = await res.text();
    // A debug page answers 404 with what is missing; the server's own 404 is "not found".
    if (res.status === 404 && body.trim() === 'not found') {
      throw new ControlPlaneError(`the control plane at ${this.base} does not serve ${path.split('?')[0]} (${what}): it is older than this trellisctl, or it is not Trellis`);
    }
    if (res.status === 401 || res.status === 403) {
      throw new ControlPlaneError(`${this.base}${path.split('?')[0]}: HTTP ${res.status}: ${body.trim().slice(0, 300)}\n  pass --token-file with a token allowed to get services/proxy on the trellis Service, or use a port-forward`);
    }
    if (res.status === 404) throw new ControlPlaneError(`${this.base}${path.split('?')[0]}: ${body.trim().slice(0, 300)}`);
    if (!res.ok) throw new ControlPlaneError(`${url}: HTTP ${res.status}: ${body.trim().slice(0, 300)}`);
    try {
      return JSON.parse(body) as unknown;
    } catch {
      throw new ControlPlaneError(`${url}: the answer is not JSON (is ${this.base} the monitoring port 15014 of Trellis?): ${body.slice(0, 120)}`);
    }
  }

  async syncz(): Promise<SyncStatus[]> {
    const body = await this.get('/debug/syncz', 'the connected proxies');
    if (!Array.isArray(body)) throw new ControlPlaneError(`${this.base}/debug/syncz: want a JSON array of proxies, got ${typeof body}`);
    return body as SyncStatus[];
  }

  async configDump(proxyId: string): Promise<ConfigDump> {
    const body = (await this.get(`/debug/config_dump?proxy=${encodeURIComponent(proxyId)}`, "a proxy's configuration")) as Partial<TrellisConfigDump & EnvoyConfigDump> | null;
    const trellis = !!body && typeof body.resources === 'object' && body.resources !== null;
    const envoy = !!body && Array.isArray(body.configs);
    if (!trellis && !envoy) throw new ControlPlaneError(`${this.base}/debug/config_dump: want {"id", "resources": {"cds", "lds", ...}}, got ${JSON.stringify(body).slice(0, 120)}`);
    return body as ConfigDump;
  }
}

/** The proxy name users see: pod.namespace for a pod, else the node id. */
export function proxyName(p: SyncStatus): string {
  return p.info.podName && p.info.namespace ? `${p.info.podName}.${p.info.namespace}` : p.id;
}

/**
 * The connected proxy of a pod: `pod` in `namespace`, `pod.namespace`, or an exact node id.
 * Throws listing what is connected when there is none.
 */
export function findProxy(proxies: readonly SyncStatus[], pod: string, namespace: string | undefined): SyncStatus {
  const byId = proxies.find((p) => p.id === pod);
  if (byId) return byId;
  const ns = namespace ?? (pod.includes('.') ? pod.slice(pod.indexOf('.') + 1) : 'default');
  const name = namespace === undefined && pod.includes('.') ? pod.slice(0, pod.indexOf('.')) : pod;
  const hit = proxies.find((p) => p.info.podName === name && p.info.namespace === ns);
  if (hit) return hit;
  const connected = proxies.map(proxyName).sort();
  throw new ControlPlaneError(
    `no proxy of pod ${name} in namespace ${ns} is connected to the control plane` +
      (connected.length ? `; connected: ${connected.slice(0, 20).join(', ')}${connected.length > 20 ? `, … (${connected.length})` : ''}` : '; no proxy is connected'),
  );
}
