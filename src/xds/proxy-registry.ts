// The proxies connected to this control plane: one entry per node id, holding what the proxy
// should have (shared by its streams), its recent NACKs, and its open streams (ADS, or one per
// type). The entry goes when its last stream closes.
//
// A node id has one owner at a time, decided the same way whatever the arrival order: a stream of
// another workload identity is refused; a stream of the same identity whose node differs (a
// restarted proxy with new metadata, or a second process claiming the id) replaces the entry and
// ends the older streams, so what a proxy receives is always computed from its newest stream's
// node, never from whichever arrived first; and a newer ADS stream of the same node replaces the
// older one (a proxy reconnecting before its dead connection timed out).
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
  /** "ads" or the per-type service's short name. */
  readonly service: string;
  /** The client's address, as gRPC reports it. */
  readonly peer: string;
  desiredChanged(types: readonly TypeUrl[], reason: string, startedAt: number): void;
  status(): StreamStatus;
  /** Ends the stream (the client reconnects). */
  end(): void;
  /** Ends the stream with a status: a newer stream took its place. */
  replaced(reason: string): void;
}

/** How a new stream was attached (see the file's comment). */
export type Attachment =
  | { readonly kind: 'joined'; readonly proxy: Proxy; readonly replaced: readonly StreamHandle[] }
  | { readonly kind: 'new'; readonly proxy: Proxy; readonly replaced: readonly StreamHandle[] }
  | { readonly kind: 'refused'; readonly reason: string; readonly owner: string };

/** Streams one node may hold at once: ADS plus one per type, both protocols, with room to spare. */
export const MAX_STREAMS_PER_NODE = 32;

/** The identity a node was admitted with, as a comparable key ("" when unauthenticated). */
export function identityKey(info: ProxyInfo): string {
  return info.identity ? `${info.identity.namespace}/${info.identity.serviceAccount}` : '';
}

/** Whether two streams describe the same node (everything but the identity, compared whole). */
function sameNode(a: ProxyInfo, b: ProxyInfo): boolean {
  return JSON.stringify({ ...a, identity: undefined }) === JSON.stringify({ ...b, identity: undefined });
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

  /**
   * Adds a stream under its node id, or refuses it. The streams in `replaced` are no longer the
   * node's: the caller ends them (they detach from their old entry, which is no longer listed).
   */
  attach(info: ProxyInfo, stream: StreamHandle): Attachment {
    const old = this.proxies.get(info.id);
    if (old && identityKey(old.info) !== identityKey(info)) {
      return { kind: 'refused', reason: `node id "${info.id}" is held by a stream of another workload identity`, owner: identityKey(old.info) };
    }
    if (old && sameNode(old.info, info)) {
      const replaced = stream.service === 'ads' ? [...old.streams].filter((s) => s.service === 'ads') : [];
      for (const s of replaced) old.streams.delete(s);
      if (old.streams.size >= MAX_STREAMS_PER_NODE) {
        for (const s of replaced) old.streams.add(s);
        return { kind: 'refused', reason: `node id "${info.id}" already holds ${MAX_STREAMS_PER_NODE} streams`, owner: identityKey(old.info) };
      }
      old.streams.add(stream);
      return { kind: 'joined', proxy: old, replaced };
    }
    const proxy = new Proxy(info);
    proxy.streams.add(stream);
    this.proxies.set(info.id, proxy);
    connectedProxies.set(this.proxies.size);
    if (old) this.emit('disconnect', old);
    this.emit('connect', proxy);
    return { kind: 'new', proxy, replaced: old ? [...old.streams] : [] };
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
