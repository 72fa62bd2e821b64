// The proxies connected to this control plane: one entry per node id, holding what the proxy
// should have (shared by its streams), its recent NACKs, and its open streams (ADS, per-type
// streams, or two Envoys of a hot restart). The entry goes when its last stream closes.
import { EventEmitter } from 'node:events';
import type { EncodedResource } from './encoded-resource.js';
import { connectedProxies } from './metrics.js';
import type { ProxyInfo } from './proxy-info.js';
import type { TypeUrl } from './types.js';

export interface NackRecord {
  readonly at: Date;
  readonly typeUrl: string;
  readonly streamId: string;
  readonly nonce: string;
  /** The version of the rejected response. */
  readonly version: string;
  readonly code: number;
  readonly message: string;
  /** Resources held back until their content changes. */
  readonly rejected: readonly string[];
}

export interface TypeStatus {
  readonly typeUrl: string;
  readonly wildcard: boolean;
  readonly subscribed: number;
  /** Resources the proxy has ACKed. */
  readonly acked: number;
  readonly ackedVersion: string;
  readonly inflightNonce: string | undefined;
  readonly rejected: ReadonlyArray<{ readonly name: string; readonly version: string; readonly message: string }>;
}

export interface StreamStatus {
  readonly id: string;
  readonly service: string;
  readonly protocol: 'sotw' | 'delta';
  readonly openedAt: Date;
  readonly types: readonly TypeStatus[];
}

/** What the registry needs from a stream. */
export interface StreamHandle {
  readonly id: string;
  desiredChanged(types: readonly TypeUrl[], reason: string, startedAt: number): void;
  status(): StreamStatus;
  /** Ends the stream (the client reconnects). */
  end(): void;
}

const MAX_NACKS = 20;

export class Proxy {
  readonly streams = new Set<StreamHandle>();
  readonly connectedAt = new Date();
  /** What the proxy should have, per type, as of the last evaluation. */
  readonly desired = new Map<TypeUrl, ReadonlyMap<string, EncodedResource>>();
  /** Sequence numbers, so an older evaluation finishing late never overwrites a newer one. */
  evaluations = 0;
  readonly appliedEvaluation = new Map<TypeUrl, number>();
  /**
   * Resolves once the first evaluation is done (streams wait for it before answering): true if
   * it succeeded. Without a first configuration a stream is closed rather than answered with
   * nothing, which would make a reconnecting proxy drop everything it has.
   */
  initialized: Promise<boolean> = Promise.resolve(true);
  private readonly nackLog: NackRecord[] = [];

  constructor(public info: ProxyInfo) {}

  get id(): string {
    return this.info.id;
  }

  recordNack(n: NackRecord): void {
    this.nackLog.push(n);
    if (this.nackLog.length > MAX_NACKS) this.nackLog.shift();
  }

  /** Recent NACKs, oldest first. */
  get nacks(): readonly NackRecord[] {
    return this.nackLog;
  }

  status(): { id: string; info: ProxyInfo; connectedAt: Date; streams: StreamStatus[]; nacks: readonly NackRecord[] } {
    return { id: this.id, info: this.info, connectedAt: this.connectedAt, streams: [...this.streams].map((s) => s.status()), nacks: this.nacks };
  }
}

export interface RegistryEvents {
  connect: [Proxy];
  disconnect: [Proxy];
}

export class ProxyRegistry extends EventEmitter<RegistryEvents> {
  private readonly proxies = new Map<string, Proxy>();

  /** Adds a stream; returns its proxy and whether the proxy is new. */
  attach(info: ProxyInfo, stream: StreamHandle): { proxy: Proxy; isNew: boolean } {
    let proxy = this.proxies.get(info.id);
    const isNew = !proxy;
    if (!proxy) {
      proxy = new Proxy(info);
      this.proxies.set(info.id, proxy);
      connectedProxies.set(this.proxies.size);
    }
    proxy.streams.add(stream);
    if (isNew) this.emit('connect', proxy);
    return { proxy, isNew };
  }

  detach(proxy: Proxy, stream: StreamHandle): void {
    proxy.streams.delete(stream);
    if (proxy.streams.size === 0 && this.proxies.get(proxy.id) === proxy) {
      this.proxies.delete(proxy.id);
      connectedProxies.set(this.proxies.size);
      this.emit('disconnect', proxy);
    }
  }

  get(id: string): Proxy | undefined {
    return this.proxies.get(id);
  }

  list(): Proxy[] {
    return [...this.proxies.values()];
  }

  get size(): number {
    return this.proxies.size;
  }
}
