// One xDS stream (ADS or a per-type service; state of the world or delta): requests are handled
// one at a time, and after each request or push `step` decides what to send, in make-before-break
// order. The protocol variants (sotw-stream.ts, delta-stream.ts) only parse requests and shape
// responses.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import type { Status__Output } from './generated/google/rpc/Status.js';
import { loggerFor } from '../util/logger.js';
import { bytesSent, convergence, nacks, openStreams, pushes } from './metrics.js';
import { parseNode, type ProxyInfo } from './proxy-info.js';
import type { Proxy, StreamHandle, StreamStatus } from './proxy-registry.js';
import { TypeState, type Plan } from './type-state.js';
import { isTypeUrl, SHORT_NAME, TypeUrl } from './types.js';
import type { Node__Output } from './generated/envoy/config/core/v3/Node.js';
import type { AckEvent, NackEvent } from './events.js';
import { AccessDenied, admit, refusals, verifiedPeer, type PortAccess } from './access.js';
import { limited, TokenBucket, truncate, type XdsLimits } from './limits.js';
import type { SharedResponse, SharedResponses } from './shared-responses.js';

const log = loggerFor('xds');

/** Distinguishes nonces of this process from those of an earlier control plane. */
export const BOOT = randomBytes(3).toString('hex');
let streamSeq = 0;

/** Requests waiting to be handled at which a stream stops reading, and resumes. */
const PAUSE_AT = 32;
const RESUME_AT = 8;

/** Types other resources depend on: sent first on add, removed last. */
const PROVIDERS: readonly TypeUrl[] = [TypeUrl.Secret, TypeUrl.Cluster, TypeUrl.Endpoint];
/** Types that reference the providers' resources. */
const CONSUMERS: readonly TypeUrl[] = [TypeUrl.Listener, TypeUrl.Route];

/** What a stream needs from the server. */
export interface StreamHost {
  readonly controlPlaneId: string;
  readonly limits: XdsLimits;
  /** State-of-the-world responses other streams were sent too (shared-responses.ts). */
  readonly sharedResponses: SharedResponses;
  /** Waits for this new stream's turn (true), or false when too many already wait. */
  admission(): Promise<boolean> | boolean;
  /** Registers the stream with its proxy (evaluating the proxy's snapshot if it is new). */
  connect(info: ProxyInfo, stream: StreamHandle): Proxy;
  disconnect(proxy: Proxy, stream: StreamHandle): void;
  /** A proxy accepted a response (after the stream recorded it). */
  acked(ev: AckEvent): void;
  /** A proxy rejected a response (after it was recorded on the proxy). */
  nacked(ev: NackEvent): void;
}

/** What both request shapes (DiscoveryRequest, DeltaDiscoveryRequest) have in common. */
interface AnyRequest {
  readonly node: Node__Output | null;
  readonly type_url: string;
}

export abstract class XdsStream<Req extends AnyRequest> implements StreamHandle {
  readonly id = `${++streamSeq}`;
  readonly openedAt = new Date();
  protected proxy: Proxy | undefined;
  protected readonly states = new Map<TypeUrl, TypeState>();
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private nonceSeq = 0;
  private readonly unknownTypes = new Set<string>();
  private readonly requests: TokenBucket;
  /** Requests received and not yet handled: past PAUSE_AT the stream stops reading (HTTP/2 flow control holds the client back). */
  private pending = 0;
  private paused = false;

  constructor(
    protected readonly host: StreamHost,
    private readonly call: grpc.ServerDuplexStream<Req, Buffer>,
    /** Who may hold a stream on this port, and whether it gets Secrets. */
    private readonly access: PortAccess,
    readonly service: string,
    readonly protocol: 'sotw' | 'delta',
    /** Per-type services: the only type this stream serves. */
    private readonly fixedType?: TypeUrl,
  ) {
    openStreams.inc({ service, protocol });
    this.requests = new TokenBucket(host.limits.requestsPerSecond, host.limits.requestBurst);
    call.on('data', (req: Req) => {
      if (this.closed) return;
      if (!this.requests.take()) {
        this.refuse('request-rate', `more than ${host.limits.requestsPerSecond} requests per second (burst ${host.limits.requestBurst}) on one stream`);
        return;
      }
      if (++this.pending >= PAUSE_AT && !this.paused) {
        this.paused = true;
        call.pause();
      }
      this.queue = this.queue
        .then(() => this.handle(req))
        .catch((err: unknown) => this.fail(err))
        .finally(() => {
          if (--this.pending <= RESUME_AT && this.paused && !this.closed) {
            this.paused = false;
            call.resume();
          }
        });
    });
    call.on('end', () => this.end());
    call.on('error', (err: Error & { code?: number }) => {
      // grpc-js ends a call whose message is over the size limit with RESOURCE_EXHAUSTED.
      if (err.code === grpc.status.RESOURCE_EXHAUSTED) {
        limited.inc({ limit: 'message-size' });
        log.warn('xDS stream ended: a request over the size limit', { stream: this.id, proxy: this.proxy?.id, peer: this.call.getPeer(), limit: host.limits.maxMessageBytes, error: err.message });
      } else log.debug('stream error', { stream: this.id, proxy: this.proxy?.id, error: err.message });
      this.close();
    });
    call.on('cancelled', () => this.close());
    call.on('close', () => this.close());
  }

  /** Applies a request to the type's state: ACK/NACK, subscription (a stale request changes nothing). */
  protected abstract apply(st: TypeState, req: Req): void;

  /**
   * The name a subscription keeps: the proxy's own resource's name (shared by every proxy of its
   * scope) when the resource exists, else the request's.
   */
  protected canonicalName(t: TypeUrl): (name: string) => string {
    const desired = this.proxy?.desired.get(t);
    return desired ? (name) => desired.get(name)?.name ?? name : (name) => name;
  }
  protected abstract encode(st: TypeState, plan: Plan, nonce: string, version: string): Buffer;
  /**
   * The response every stream planned the same version of this type gets (the version is the
   * digest of the resources, and of the removals in delta), nonce included, unless this stream
   * was just sent it: then a nonce of its own, so the two ACKs differ. Never for secrets: a
   * stream's keys are its alone, and are small.
   */
  private shared(st: TypeState, plan: Plan, version: string): SharedResponse | undefined {
    if (st.typeUrl === TypeUrl.Secret) return undefined;
    const r = this.host.sharedResponses.get(`${this.protocol} ${st.typeUrl}`, version, (nonce) => this.encode(st, plan, nonce, version));
    return r.nonce === st.lastNonce ? undefined : r;
  }
  protected abstract versionOf(plan: Plan): string;

  private async handle(req: Req): Promise<void> {
    if (this.closed) return;
    if (!this.proxy) {
      const claimed = parseNode(req.node);
      if (!claimed.id) {
        this.endWithStatus(grpc.status.INVALID_ARGUMENT, 'the first request of a stream must carry node.id');
        return;
      }
      if (!(await this.host.admission())) {
        limited.inc({ limit: 'admission' });
        this.endWithStatus(grpc.status.UNAVAILABLE, 'too many new xDS streams are waiting to be admitted; retry later');
        return;
      }
      if (this.closed) return;
      let info;
      try {
        info = await admit(this.access, claimed, { metadata: this.call.metadata, peerCertificate: verifiedPeer(this.call) });
        if (this.closed) return;
        this.proxy = this.host.connect(info, this);
      } catch (err) {
        if (!(err instanceof AccessDenied)) throw err;
        const reason = err.reason ?? (err.code === grpc.status.UNAUTHENTICATED ? 'unauthenticated' : 'identity-mismatch');
        if (err.code !== grpc.status.RESOURCE_EXHAUSTED) refusals.inc({ reason }); // a limit counts itself
        log.warn('xDS stream refused', { node: claimed.id, peer: this.call.getPeer(), reason, error: err.message });
        this.endWithStatus(err.code, err.message);
        return;
      }
      log.debug('stream opened', { stream: this.id, proxy: info.id, service: this.service, protocol: this.protocol });
      const ok = await this.proxy.initialized;
      if (this.closed) return;
      if (!ok) {
        this.endWithStatus(grpc.status.UNAVAILABLE, 'no configuration for this proxy yet');
        return;
      }
    }
    const typeUrl = this.fixedType ?? req.type_url;
    if (!isTypeUrl(typeUrl)) {
      // Remembered to log once each, a few only: the type URL is the client's choice.
      if (!this.unknownTypes.has(typeUrl) && this.unknownTypes.size < 16) {
        this.unknownTypes.add(typeUrl);
        log.info('ignoring a subscription to a type Trellis does not serve', { proxy: this.proxy.id, type: typeUrl });
      }
      return;
    }
    let st = this.states.get(typeUrl);
    if (!st) {
      st = new TypeState(typeUrl, this.protocol === 'delta');
      this.states.set(typeUrl, st);
    }
    this.apply(st, req);
    // A delta client's initial_resource_versions name what it claims to hold: bounded alike.
    const names = Math.max(st.sub.names.size, st.has.size);
    if (names > this.host.limits.maxNamesPerType) {
      this.refuse('names', `subscribed to ${names} ${SHORT_NAME[typeUrl]} resources; at most ${this.host.limits.maxNamesPerType} per type`);
      return;
    }
    this.step();
  }

  /** Ends the stream for exceeding a limit (logged and counted). */
  private refuse(limit: string, message: string): void {
    limited.inc({ limit });
    log.warn('xDS stream ended by a limit', { stream: this.id, proxy: this.proxy?.id, peer: this.call.getPeer(), limit, error: message });
    this.endWithStatus(grpc.status.RESOURCE_EXHAUSTED, message);
  }

  /** Called by the server after a push changed what this stream's proxy should have. */
  desiredChanged(types: readonly TypeUrl[], reason: string, startedAt: number): void {
    if (this.closed || !this.proxy) return;
    for (const t of types) {
      const st = this.states.get(t);
      if (!st) continue;
      st.forgetStaleRejections(this.proxy.desired.get(t));
      st.markPending(reason, startedAt);
    }
    this.step();
  }

  /**
   * Sends whatever is due, in make-before-break order: secrets, clusters and endpoints first
   * (keeping the ones being removed), listeners and routes once those are ACKed, and the
   * removals of clusters and endpoints once listeners and routes no longer use them.
   */
  protected step(): void {
    const proxy = this.proxy;
    if (this.closed || !proxy) return;
    const desired = (t: TypeUrl) => proxy.desired.get(t);
    const settled = (types: readonly TypeUrl[], keepRemoved: boolean) =>
      types.every((t) => {
        const st = this.states.get(t);
        return !st || (!st.inflight && !st.plan(desired(t), keepRemoved));
      });
    const routesSettled = settled(CONSUMERS, false);
    for (const t of PROVIDERS) this.maybeSend(t, !routesSettled);
    if (!settled(PROVIDERS, true)) return;
    for (const t of CONSUMERS) this.maybeSend(t, false);
  }

  private maybeSend(t: TypeUrl, keepRemoved: boolean): void {
    const st = this.states.get(t);
    if (!st || st.inflight || !this.proxy) return;
    const plan = st.plan(this.proxy.desired.get(t), keepRemoved);
    if (!plan) return;
    // Clusters updated in place are re-created by Envoy: their endpoints must follow.
    if (t === TypeUrl.Cluster) {
      const updated = [...plan.changed].filter((n) => st.has.has(n));
      if (updated.length > 0) this.states.get(TypeUrl.Endpoint)?.resend(updated);
    }
    const version = this.versionOf(plan);
    const shared = this.shared(st, plan, version);
    const nonce = shared?.nonce ?? `${BOOT}-${this.id}-${++this.nonceSeq}`;
    const buf = shared?.buf ?? this.encode(st, plan, nonce, version);
    const sent = st.sent(plan, nonce, version);
    this.call.write(buf);
    const type = SHORT_NAME[t];
    pushes.inc({ type, reason: sent.reason });
    bytesSent.inc({ type }, buf.length);
    // winston formats a message before its transports drop it by level: skip the hot path's.
    if (log.isDebugEnabled()) log.debug('sent', { stream: this.id, proxy: this.proxy.id, type, version, nonce, resources: plan.resources.length, removed: plan.removed.length, reason: sent.reason });
  }

  protected acked(st: TypeState): void {
    const s = st.ack();
    if (!s) return;
    if (s.pushStartedAt !== undefined) convergence.observe({ type: SHORT_NAME[st.typeUrl] }, (performance.now() - s.pushStartedAt) / 1000);
    if (this.proxy) {
      this.host.acked({
        proxy: this.proxy,
        streamId: this.id,
        typeUrl: st.typeUrl,
        version: s.version,
        nonce: s.nonce,
        resources: s.resources,
        removed: s.removed,
        pushStartedAt: s.pushStartedAt,
      });
    }
  }

  protected nacked(st: TypeState, detail: Status__Output): void {
    // The detail is the client's text: kept, logged and shown only up to a bound.
    const message = truncate(detail.message, this.host.limits.maxNackDetailChars);
    const r = st.nack(message);
    if (!r || !this.proxy) return;
    const type = SHORT_NAME[st.typeUrl];
    nacks.inc({ type });
    const record = {
      at: new Date(),
      typeUrl: st.typeUrl,
      streamId: this.id,
      nonce: r.sent.nonce,
      version: r.sent.version,
      code: detail.code,
      message,
      rejected: r.rejected,
    };
    this.proxy.recordNack(record);
    this.host.nacked({ proxy: this.proxy, nack: record });
    log.warn('proxy rejected configuration; it keeps its previous version', {
      proxy: this.proxy.id,
      type,
      version: r.sent.version,
      rejected: r.rejected,
      error: message,
    });
  }

  settledOn(t: TypeUrl): boolean {
    const st = this.states.get(t);
    return !st || !this.proxy || (!st.inflight && !st.plan(this.proxy.desired.get(t), false));
  }

  rejection(t: TypeUrl): string | undefined {
    const st = this.states.get(t);
    const desired = this.proxy?.desired.get(t);
    if (!st || !desired) return undefined;
    for (const [name, r] of st.rejected) if (desired.get(name)?.version === r.version) return r.message;
    return undefined;
  }

  status(): StreamStatus {
    return {
      id: this.id,
      service: this.service,
      protocol: this.protocol,
      openedAt: this.openedAt,
      types: [...this.states.values()].map((st) => ({
        typeUrl: st.typeUrl,
        wildcard: st.sub.wildcard,
        subscribed: st.sub.names.size,
        acked: st.has.size,
        ackedVersion: st.ackedVersion,
        inflightNonce: st.inflight?.nonce,
        rejected: [...st.rejected].map(([name, r]) => ({ name, version: r.version, message: r.message })),
      })),
    };
  }

  get peer(): string {
    return this.call.getPeer();
  }

  /** Ends the stream from the server side (the client reconnects). */
  end(): void {
    if (!this.closed) this.call.end();
    this.close();
  }

  replaced(reason: string): void {
    log.info('stream replaced', { stream: this.id, proxy: this.proxy?.id, reason });
    this.endWithStatus(grpc.status.ABORTED, reason);
  }

  private fail(err: unknown): void {
    log.error('xDS stream failed', { stream: this.id, proxy: this.proxy?.id, error: err instanceof Error ? err.message : String(err) });
    this.endWithStatus(grpc.status.INTERNAL, 'internal error');
  }

  /** Ends the call with a status (grpc-js sends the status of an 'error' event on end). */
  private endWithStatus(code: grpc.status, details: string): void {
    if (!this.closed) this.call.emit('error', Object.assign(new Error(details), { code, details }));
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    openStreams.dec({ service: this.service, protocol: this.protocol });
    if (this.proxy) {
      this.host.disconnect(this.proxy, this);
      log.debug('stream closed', { stream: this.id, proxy: this.proxy.id });
    }
  }
}
