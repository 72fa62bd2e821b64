// Distributes the mesh root: every namespace gets the ConfigMap istio-ca-root-cert (key
// root-cert.pem, labelled istio.io/config=true, as Istio names it), which sidecars mount to
// verify the control plane and their peers. Kept that way: a namespace created later gets it, a
// deleted ConfigMap is recreated, an edited one is put back. Namespaces being deleted are left
// alone, as are the system namespaces Istio skips.
import type { KubernetesObject } from '@kubernetes/client-node';
import { Counter } from 'prom-client';
import { Informer } from '../kube/informer.js';
import { ApiError, Rest } from '../kube/rest.js';
import type { Logger } from '../util/logger.js';
import { registry } from '../util/metrics.js';

import { ROOT_CERT_CONFIGMAP as ROOT_CONFIGMAP, ROOT_CERT_KEY as ROOT_CONFIGMAP_KEY } from '../api/mesh-identity.js';
import type { KubeAccess } from '../kube/access.js';

export { ROOT_CONFIGMAP, ROOT_CONFIGMAP_KEY };
export const ROOT_CONFIGMAP_LABELS: Readonly<Record<string, string>> = { 'istio.io/config': 'true' };
/** Namespaces Istio does not publish to. */
export const DEFAULT_SKIPPED_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage'];

export const rootConfigMapWrites = new Counter({
  name: 'trellis_ca_root_configmap_writes_total',
  help: 'Writes of the istio-ca-root-cert ConfigMap, by action (created, restored).',
  labelNames: ['action'] as const,
  registers: [registry],
});

interface Namespace extends KubernetesObject {
  status?: { phase?: string };
}

interface ConfigMap extends KubernetesObject {
  data?: Record<string, string>;
}

export interface RootPublisherOptions {
  kc: KubeAccess;
  rootPem: string;
  log: Logger;
  /** Namespaces left alone (default: Istio's list of system namespaces). */
  skipNamespaces?: readonly string[];
  /** Only namespaces with these labels (a label selector, e.g. "team=a"); default all. */
  namespaceSelector?: string;
  /** Namespaces written at once (default 4). */
  concurrency?: number;
  /** Longest wait before retrying a failed namespace (default 30 s). */
  maxBackoffMs?: number;
}

export class RootPublisher {
  private readonly rest: Rest;
  private readonly namespaces: Informer<Namespace>;
  private readonly configMaps: Informer<ConfigMap>;
  private readonly skip: ReadonlySet<string>;
  private readonly concurrency: number;
  private readonly log: Logger;
  private rootPem: string;
  private readonly pending = new Set<string>();
  private readonly active = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly idleWaiters: (() => void)[] = [];
  private running = false;

  constructor(private readonly opts: RootPublisherOptions) {
    this.rest = new Rest(opts.kc);
    this.log = opts.log;
    this.rootPem = opts.rootPem;
    this.skip = new Set(opts.skipNamespaces ?? DEFAULT_SKIPPED_NAMESPACES);
    this.concurrency = opts.concurrency ?? 4;
    this.namespaces = new Informer<Namespace>({ kc: opts.kc, path: '/api/v1/namespaces', labelSelector: opts.namespaceSelector, log: opts.log });
    this.configMaps = new Informer<ConfigMap>({ kc: opts.kc, path: '/api/v1/configmaps', fieldSelector: `metadata.name=${ROOT_CONFIGMAP}`, log: opts.log });
    this.namespaces.on((_event, ns) => this.enqueue(ns.metadata?.name));
    this.configMaps.on((_event, cm) => this.enqueue(cm.metadata?.namespace));
  }

  /** Starts watching; resolves once both informers have listed (the first writes are queued). */
  async start(): Promise<void> {
    this.running = true;
    await Promise.all([this.namespaces.start(), this.configMaps.start()]);
    for (const ns of this.namespaces.list()) this.enqueue(ns.metadata?.name);
  }

  stop(): void {
    this.running = false;
    this.namespaces.stop();
    this.configMaps.stop();
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    this.pending.clear();
  }

  /** Publishes a new root bundle (e.g. a rotated plug-in CA) to every namespace. */
  setRoot(rootPem: string): void {
    if (rootPem === this.rootPem) return;
    this.rootPem = rootPem;
    for (const ns of this.namespaces.list()) this.enqueue(ns.metadata?.name);
  }

  /** Resolves when nothing is queued or being written (retries may still be scheduled). */
  idle(): Promise<void> {
    return this.pending.size === 0 && this.active.size === 0 ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }

  private enqueue(ns: string | undefined): void {
    if (!ns || !this.running || this.skip.has(ns)) return;
    this.pending.add(ns);
    this.drain();
  }

  private drain(): void {
    for (const ns of this.pending) {
      if (this.active.size >= this.concurrency) return;
      if (this.active.has(ns)) continue; // queued again while being written: runs after
      this.pending.delete(ns);
      this.active.add(ns);
      void this.reconcile(ns)
        .then(
          () => this.failures.delete(ns),
          (err: unknown) => this.retry(ns, err),
        )
        .finally(() => {
          this.active.delete(ns);
          this.drain();
          if (this.pending.size === 0 && this.active.size === 0) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }

  private retry(ns: string, err: unknown): void {
    const attempt = (this.failures.get(ns) ?? 0) + 1;
    this.failures.set(ns, attempt);
    const delay = Math.min(this.opts.maxBackoffMs ?? 30_000, 250 * 2 ** (attempt - 1));
    this.log.warn('cannot publish the root certificate; retrying', { namespace: ns, configMap: ROOT_CONFIGMAP, retryInMs: delay, error: err instanceof Error ? err.message : String(err) });
    const t = setTimeout(() => {
      this.retryTimers.delete(t);
      this.enqueue(ns);
    }, delay);
    t.unref();
    this.retryTimers.add(t);
  }

  private wanted(ns: string): Namespace | undefined {
    const o = this.namespaces.get(ns);
    if (!o || o.status?.phase === 'Terminating' || o.metadata?.deletionTimestamp) return undefined;
    return o;
  }

  private async reconcile(ns: string): Promise<void> {
    if (!this.running || !this.wanted(ns)) return;
    const current = this.configMaps.get(ROOT_CONFIGMAP, ns);
    if (!current) {
      await this.create(ns);
      return;
    }
    if (!this.matches(current)) await this.restore(ns);
  }

  private matches(cm: ConfigMap): boolean {
    return cm.data?.[ROOT_CONFIGMAP_KEY] === this.rootPem && Object.entries(ROOT_CONFIGMAP_LABELS).every(([k, v]) => cm.metadata?.labels?.[k] === v);
  }

  private path(ns: string): string {
    return `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps`;
  }

  private async create(ns: string): Promise<void> {
    try {
      await this.rest.post(this.path(ns), {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: ROOT_CONFIGMAP, namespace: ns, labels: { ...ROOT_CONFIGMAP_LABELS } },
        data: { [ROOT_CONFIGMAP_KEY]: this.rootPem },
      });
      rootConfigMapWrites.inc({ action: 'created' });
      this.log.info('published the root certificate', { namespace: ns, configMap: ROOT_CONFIGMAP });
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        // Exists already (our cache is behind, or another replica wrote it): check its content.
        const cm = await this.rest.get<ConfigMap>(`${this.path(ns)}/${ROOT_CONFIGMAP}`).catch(() => undefined);
        if (cm && !this.matches(cm)) await this.restore(ns);
        return;
      }
      if (this.terminating(err)) return;
      throw err;
    }
  }

  private async restore(ns: string): Promise<void> {
    try {
      await this.rest.mergePatch(`${this.path(ns)}/${ROOT_CONFIGMAP}`, { metadata: { labels: { ...ROOT_CONFIGMAP_LABELS } }, data: { [ROOT_CONFIGMAP_KEY]: this.rootPem } });
      rootConfigMapWrites.inc({ action: 'restored' });
      this.log.info('restored the root certificate ConfigMap', { namespace: ns, configMap: ROOT_CONFIGMAP });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return this.create(ns);
      if (this.terminating(err)) return;
      throw err;
    }
  }

  /** The namespace went away or began terminating while we wrote: nothing to do. */
  private terminating(err: unknown): boolean {
    if (!(err instanceof ApiError)) return false;
    if (err.status === 403 && /being terminated|NamespaceTerminating/i.test(err.message)) return true;
    return err.status === 404 && err.reason === 'NotFound' && /namespaces? .*not found/i.test(err.message);
  }
}
