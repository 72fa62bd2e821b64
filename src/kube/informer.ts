// A watched cache of one kind that does not lose events:
//  - list, then watch from the list's resourceVersion, with bookmarks;
//  - a 410 Gone (expired resourceVersion) relists, and the relist is diffed against the cache
//    so handlers see exactly the adds, updates and deletes they missed;
//  - any other failure reconnects with capped exponential backoff;
//  - a watch that stops delivering without an error (a known client-node pitfall: a
//    half-open connection) is detected by a watchdog and replaced;
//  - a periodic resync re-delivers every object so controllers can repair drift.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../util/logger.js';
import type { KubeAccess } from './access.js';
import { ApiError, Rest } from './rest.js';
import { watch } from './watch.js';

export type InformerEvent = 'add' | 'update' | 'delete' | 'resync';
export type Handler<T> = (event: InformerEvent, obj: T, old?: T) => void;

export interface InformerOptions<T = KubernetesObject> {
  kc: KubeAccess;
  /** API path of the collection, e.g. /apis/networking.istio.io/v1/virtualservices */
  path: string;
  log: Logger;
  labelSelector?: string;
  fieldSelector?: string;
  resyncMs?: number;
  /** Server-side watch timeout: the server ends a healthy watch after this long. */
  watchTimeoutSeconds?: number;
  /** A watch that delivers nothing (no event, no bookmark, no end) for this long is replaced. */
  stallMs?: number;
  maxBackoffMs?: number;
  /**
   * What of each object to keep, applied as it arrives (before the cache and the handlers): an
   * informer of a kind with large or sensitive objects keeps only the fields it uses. Keep
   * metadata.name, namespace and resourceVersion.
   */
  transform?: (obj: T) => T;
  /**
   * A collection the API does not serve (404: a custom resource whose CRD is not installed yet)
   * holds no objects: the informer counts as synced with none, says so, and keeps looking for it.
   * For custom kinds, so an upgrade that adds a kind before its CRD is applied (Helm never
   * upgrades CRDs) leaves the control plane ready, serving everything else.
   */
  absentIsEmpty?: boolean;
}

interface ListResponse<T> {
  metadata?: { resourceVersion?: string };
  items: T[];
}

interface WatchStatus {
  kind?: string;
  code?: number;
  message?: string;
}

/**
 * What no reader of an informer's cache uses and every object carries: the server-side apply
 * bookkeeping (managedFields, often the largest part of a small object) and kubectl's copy of
 * the last applied manifest. Dropped before the cache and the handlers, for every kind.
 */
export function withoutBookkeeping<T extends KubernetesObject>(obj: T): T {
  const md = obj.metadata;
  if (!md || (md.managedFields === undefined && md.annotations?.[LAST_APPLIED] === undefined)) return obj;
  const metadata = { ...md };
  delete metadata.managedFields;
  if (md.annotations?.[LAST_APPLIED] !== undefined) {
    metadata.annotations = { ...md.annotations };
    delete metadata.annotations[LAST_APPLIED];
  }
  return { ...obj, metadata };
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function keyOf(o: KubernetesObject): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

export class Informer<T extends KubernetesObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: Handler<T>[] = [];
  private readonly rest: Rest;
  private resourceVersion = '';
  private abort: { abort(): void } | undefined;
  private running = false;
  private synced = false;
  private readonly syncWaiters: (() => void)[] = [];
  private backoffMs = 0;
  private lastActivity = Date.now();
  private timers: NodeJS.Timeout[] = [];
  private generation = 0; // invalidates callbacks of a replaced watch
  private watchPendingSince = 0; // a watch request sent and not yet answered

  /** What of an object the cache keeps: the kind's own transform after the bookkeeping goes. */
  private readonly keep: (obj: T) => T;

  constructor(private readonly opts: InformerOptions<T>) {
    const transform = opts.transform;
    this.keep = transform ? (o) => transform(withoutBookkeeping(o)) : withoutBookkeeping;
    this.rest = new Rest(opts.kc);
  }

  on(handler: Handler<T>): void {
    this.handlers.push(handler);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  get(name: string, namespace = ''): T | undefined {
    return this.cache.get(`${namespace}/${name}`);
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Starts listing and watching; resolves after the first successful list. */
  async start(): Promise<void> {
    this.running = true;
    const stallMs = this.opts.stallMs ?? ((this.opts.watchTimeoutSeconds ?? 300) + 30) * 1000;
    this.timers.push(
      setInterval(() => {
        const pendingTooLong = this.watchPendingSince > 0 && Date.now() - this.watchPendingSince > stallMs;
        if ((this.abort && Date.now() - this.lastActivity > stallMs) || pendingTooLong) {
          this.opts.log.warn('watch delivered nothing for too long; replacing it', { path: this.opts.path, stallMs });
          this.restartWatch(false);
        }
      }, Math.min(15_000, Math.max(500, stallMs / 2))),
      setInterval(() => this.resync(), this.opts.resyncMs ?? 10 * 60_000),
    );
    for (const t of this.timers) t.unref();
    void this.loop(true);
    await this.waitForSync();
  }

  waitForSync(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((r) => this.syncWaiters.push(r));
  }

  stop(): void {
    this.running = false;
    this.generation++;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.abort?.abort();
    this.abort = undefined;
  }

  private query(): string {
    const q = new URLSearchParams();
    if (this.opts.labelSelector) q.set('labelSelector', this.opts.labelSelector);
    if (this.opts.fieldSelector) q.set('fieldSelector', this.opts.fieldSelector);
    return q.toString();
  }

  private async loop(relist: boolean): Promise<void> {
    const gen = ++this.generation;
    while (this.running && gen === this.generation) {
      try {
        if (relist || !this.resourceVersion) await this.relist();
        await this.watch(gen);
        this.backoffMs = 0;
        return; // the watch's done callback continues the loop
      } catch (err) {
        relist = err instanceof ApiError && err.status === 410;
        if (!this.running || gen !== this.generation) return;
        this.backoffMs = Math.min(this.opts.maxBackoffMs ?? 30_000, this.backoffMs ? this.backoffMs * 2 : 250);
        const absent = err instanceof ApiError && err.status === 404;
        if (absent && this.opts.absentIsEmpty) this.forgetAll();
        const hint = absent ? 'the API does not serve this resource: is its CRD installed (kubectl apply -f crds/)?' : undefined;
        this.opts.log.warn('list/watch failed; retrying', { path: this.opts.path, retryInMs: this.backoffMs, error: String(err), ...(hint ? { hint } : {}) });
        await new Promise((r) => setTimeout(r, this.backoffMs));
      }
    }
  }

  /** The collection is gone (or never was): no objects, which counts as synced. */
  private forgetAll(): void {
    for (const [key, old] of [...this.cache]) {
      this.cache.delete(key);
      this.emit('delete', old);
    }
    this.resourceVersion = '';
    this.markSynced();
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private async relist(): Promise<void> {
    const q = this.query();
    const res = await this.rest.get<ListResponse<T>>(`${this.opts.path}${q ? `?${q}` : ''}`);
    const seen = new Set<string>();
    const keep = this.keep;
    for (const listed of res.items) {
      const item = keep(listed);
      const key = keyOf(item);
      seen.add(key);
      const old = this.cache.get(key);
      this.cache.set(key, item);
      if (!old) this.emit('add', item);
      else if (old.metadata?.resourceVersion !== item.metadata?.resourceVersion) this.emit('update', item, old);
    }
    for (const [key, old] of [...this.cache]) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit('delete', old);
      }
    }
    this.resourceVersion = res.metadata?.resourceVersion ?? '';
    this.lastActivity = Date.now();
    this.markSynced();
  }

  private async watch(gen: number): Promise<void> {
    const params: Record<string, string | number | boolean> = {
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: this.opts.watchTimeoutSeconds ?? 300,
    };
    if (this.opts.labelSelector) params.labelSelector = this.opts.labelSelector;
    if (this.opts.fieldSelector) params.fieldSelector = this.opts.fieldSelector;
    this.lastActivity = Date.now();
    let gone = false;
    let ended = false;
    this.watchPendingSince = Date.now();
    const abort = await watch(
      this.opts.kc,
      this.opts.path,
      params,
      (phase: string, obj: unknown) => {
        if (gen !== this.generation) return;
        this.lastActivity = Date.now();
        if (phase === 'ERROR') {
          const status = obj as WatchStatus;
          if (status.code === 410) gone = true;
          this.opts.log.debug('watch error event', { path: this.opts.path, code: status.code, message: status.message });
          return;
        }
        const o = this.keep(obj as T);
        const rv = o.metadata?.resourceVersion;
        if (rv) this.resourceVersion = rv;
        if (phase === 'BOOKMARK') return;
        const key = keyOf(o);
        const old = this.cache.get(key);
        if (phase === 'DELETED') {
          this.cache.delete(key);
          this.emit('delete', o);
        } else {
          this.cache.set(key, o);
          this.emit(old ? 'update' : 'add', o, old);
        }
      },
      (err: unknown) => {
        ended = true;
        if (gen !== this.generation || !this.running) return;
        this.abort = undefined;
        if ((err as { statusCode?: number } | null)?.statusCode === 410) gone = true;
        if (err && !(err instanceof Error && err.name === 'AbortError')) this.opts.log.debug('watch ended', { path: this.opts.path, error: String(err) });
        // A normal end (the server's timeout) resumes from where we are; 410 relists.
        const wait = err && !gone ? (this.backoffMs = Math.min(this.opts.maxBackoffMs ?? 30_000, this.backoffMs ? this.backoffMs * 2 : 250)) : 0;
        setTimeout(() => void this.loop(gone), wait);
      },
    );
    if (gen === this.generation) this.watchPendingSince = 0;
    if (!ended && gen === this.generation) this.abort = abort;
    else if (!ended) abort.abort(); // replaced by the watchdog while it was connecting
  }

  private restartWatch(relist: boolean): void {
    this.generation++;
    this.watchPendingSince = 0;
    this.abort?.abort();
    this.abort = undefined;
    void this.loop(relist);
  }

  private resync(): void {
    for (const o of this.cache.values()) this.emit('resync', o);
  }

  private emit(event: InformerEvent, obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        h(event, obj, old);
      } catch (err) {
        this.opts.log.error('informer handler failed', { path: this.opts.path, error: err instanceof Error ? err.stack : String(err) });
      }
    }
  }
}
