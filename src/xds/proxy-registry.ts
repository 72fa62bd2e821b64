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
  /**
   * Whether the client holds what the proxy should have of a type: nothing in flight, nothing
   * due. Resources the client rejected and that are held back at their previous version count
   * as settled (rejections are reported apart, see `rejection`).
   */
  settledOn(t: TypeUrl): boolean;
  /** The client's text for a rejection of what the proxy should have of a type, if it holds one. */
  rejection(t: TypeUrl): string | undefined;
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

/**
 * A rejection as the rollout sees it: content evaluated from model versions after `after` up to
 * `through` was rejected (the changes of that batch are the suspects), with the client's text.
 */
export interface RejectedEpochs {
  readonly after: number;
  readonly through: number;
  readonly message: string;
}

/** How a proxy stands with what it should have: all of it, some still due, or a rejection. */
export type SyncState = 'SYNCED' | 'STALE' | 'NACK';

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
  /**
   * Model versions (the provider's epoch), per type: the one the proxy's desired state was last
   * evaluated from, and the newest one the client is known to hold (everything due ACKed).
   */
  private readonly evaluated = new Map<TypeUrl, number>();
  private readonly synced = new Map<TypeUrl, number>();
  private readonly rejectedEpochs = new Map<TypeUrl, RejectedEpochs>();
  /** Whether the client ACKed any response yet. */
  private accepted = false;

  constructor(public info: ProxyInfo) {}

  /** The desired state of these types was just evaluated from model version `epoch`. */
  evaluatedAt(types: Iterable<TypeUrl>, epoch: number): void {
    for (const t of types) this.evaluated.set(t, epoch);
  }

  /**
   * Looks again at whether the client holds what it should of these types (after an
   * evaluation, an ACK or a NACK): if every stream is settled, the client is synced up to the
   * version the desired state came from; a rejection that no stream holds any more is forgotten.
   */
  noteSync(types: Iterable<TypeUrl>): void {
    // A proxy that has not accepted anything yet holds nothing, whatever it has not asked for.
    if (!this.accepted) return;
    for (const t of types) {
      const streams = [...this.streams];
      if (streams.every((s) => s.settledOn(t))) this.synced.set(t, this.evaluated.get(t) ?? 0);
      if (this.rejectedEpochs.has(t) && !streams.some((s) => s.rejection(t) !== undefined)) this.rejectedEpochs.delete(t);
    }
  }

  /** The client ACKed a response: what it holds can be told from now on. */
  noteAck(types: Iterable<TypeUrl>): void {
    const first = !this.accepted;
    this.accepted = true;
    // The first ACK: the types nothing was asked for are held from now on, too.
    this.noteSync(first ? [...this.evaluated.keys()] : types);
  }

  /** A response of this type was rejected: the content evaluated since the last sync is suspect. */
  noteRejection(t: TypeUrl, message: string): void {
    const prev = this.rejectedEpochs.get(t);
    const after = Math.min(prev?.after ?? Infinity, this.synced.get(t) ?? 0);
    this.rejectedEpochs.set(t, { after, through: this.evaluated.get(t) ?? 0, message });
  }

  /** The newest model version the client holds all of, for this type (0: none yet). */
  syncedEpoch(t: TypeUrl): number {
    return this.synced.get(t) ?? 0;
  }

  /** The rejection this type stands under, if any. */
  rejected(t: TypeUrl): RejectedEpochs | undefined {
    return this.rejectedEpochs.get(t);
  }

  /** NACK when a stream holds a rejection; STALE when something is in flight or due; else SYNCED. */
  syncState(types: Iterable<TypeUrl>): SyncState {
    let state: SyncState = 'SYNCED';
    for (const t of types) {
      for (const s of this.streams) {
        if (s.rejection(t) !== undefined) return 'NACK';
        if (!s.settledOn(t)) state = 'STALE';
      }
    }
    return state;
  }

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
