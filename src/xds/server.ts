// The xDS server: ADS (state of the world and delta) and the per-type discovery services over
// gRPC, fed by a SnapshotProvider. `push` re-evaluates proxies and sends only what changed.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { forEachBounded } from './bounded.js';
import { shutdownGrpcServer } from '../util/grpc-shutdown.js';
import { loggerFor, type Logger } from '../util/logger.js';
import { DeltaStream } from './delta-stream.js';
import { changedNames } from './desired-diff.js';
import { setVersion, type EncodedResource } from './encoded-resource.js';
import type { AckEvent, NackEvent, XdsEvents } from './events.js';
import { pushDuration, snapshotErrors } from './metrics.js';
import { parseNode, type ProxyInfo } from './proxy-info.js';
import { identityKey, ProxyRegistry, type Proxy, type StreamHandle } from './proxy-registry.js';
import { ResourceCache } from './resource-cache.js';
import { adsDefinition, PER_TYPE_SERVICES, perTypeDefinition, type PerTypeService } from './services.js';
import type { SnapshotProvider } from './snapshot.js';
import { SotwStream } from './sotw-stream.js';
import { BOOT, type StreamHost } from './stream.js';
import { SharedResponses } from './shared-responses.js';
import { ALL_TYPES, isWildcardType, resourceName, SHORT_NAME, type ResourceOf, type TypeUrl } from './types.js';
import { installFramedWrites } from './framing.js';
import { encodeSotwResponse, type DeltaDiscoveryRequest__Output, type DiscoveryRequest__Output } from './wire.js';
import { protoRoot } from './protos.js';
import { AccessDenied, admit, OPEN_ACCESS, refusals, verifiedPeer, type PortAccess } from './access.js';
import { NO_CHANNELZ } from '../util/grpc-options.js';
import { AdmissionGate, DEFAULT_XDS_LIMITS, limited, type XdsLimits } from './limits.js';

export interface XdsServerOptions {
  provider: SnapshotProvider;
  /** Proxies evaluated at once during a push (default 32). */
  concurrency?: number;
  /** Sent as control_plane.identifier in responses (default "trellis"). */
  controlPlaneId?: string;
  /** What one client may cost (limits.ts); defaults for what is not given. */
  limits?: Partial<XdsLimits>;
  /**
   * The service account a pod runs as, when the pod is known: an authenticated stream naming a
   * known pod must run as that pod's service account (so a node id cannot be squatted by
   * another identity of the pod's namespace before the pod's own proxy connects).
   */
  podServiceAccount?: (namespace: string, pod: string) => string | undefined;
  /**
   * The version of the model the provider answers from now (increasing with every change), so
   * each proxy's sync can be told in model versions (see Proxy.syncedEpoch); 0 without it.
   */
  epoch?: () => number;
  log?: Logger;
}

export interface PushRequest {
  /** Node ids to re-evaluate; all connected proxies when absent. */
  proxies?: Iterable<string>;
  /** Why (a metric label: keep the set small, e.g. "config", "endpoints", "secrets"). */
  reason: string;
  /** Type URLs to re-evaluate; all when absent (an endpoint-only change pushes EDS only). */
  types?: Iterable<string>;
  /** Calls the push off: proxies not reached yet are left alone, and the result says so (calledOff). */
  signal?: AbortSignal;
}

const ALL_TYPE_SET: ReadonlySet<TypeUrl> = new Set(ALL_TYPES);

export class XdsServer implements StreamHost {
  readonly registry = new ProxyRegistry();
  /** ACKs and NACKs as they arrive (see events.ts). */
  readonly events = new EventEmitter<XdsEvents>();
  readonly controlPlaneId: string;
  readonly sharedResponses = new SharedResponses(BOOT);
  readonly limits: XdsLimits;
  private readonly gate: AdmissionGate;
  /** Open streams per client (workload identity, or peer address when unauthenticated), for maxStreamsPerIdentity. */
  private readonly streamsByClient = new Map<string, number>();
  private readonly clientOf = new WeakMap<StreamHandle, string>();
  private readonly cache = new ResourceCache();
  /**
   * Encoded maps by the provider's map: proxies alike get the same map object from the provider
   * (translate's SidecarShare), and then share one encoded map rather than each building its own.
   */
  private readonly encodedMaps = new WeakMap<ReadonlyMap<string, unknown>, ReadonlyMap<string, EncodedResource>>();
  private readonly provider: SnapshotProvider;
  private readonly podServiceAccount: (namespace: string, pod: string) => string | undefined;
  private readonly epoch: () => number;
  private readonly concurrency: number;
  private readonly log: Logger;
  /** One gRPC server per port: each port has its own access policy. */
  private readonly grpcServers: grpc.Server[] = [];

  constructor(opts: XdsServerOptions) {
    this.provider = opts.provider;
    this.concurrency = opts.concurrency ?? 32;
    this.controlPlaneId = opts.controlPlaneId ?? 'trellis';
    this.limits = { ...DEFAULT_XDS_LIMITS, ...opts.limits };
    this.podServiceAccount = opts.podServiceAccount ?? (() => undefined);
    this.epoch = opts.epoch ?? (() => 0);
    this.gate = new AdmissionGate(this.limits.admissionsPerSecond, this.limits.admissionBurst, this.limits.maxWaitingAdmissions);
    this.log = opts.log ?? loggerFor('xds');
    protoRoot(); // load the protos now rather than on the first connection
    if (!installFramedWrites()) this.log.warn('this grpc-js cannot write pre-framed responses: each response is copied once more to be sent');
  }

  /** Adds the discovery services to a gRPC server, its streams admitted by `access`. */
  register(server: grpc.Server, access: PortAccess = OPEN_ACCESS): void {
    server.addService(adsDefinition, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<DiscoveryRequest__Output, Buffer>) => new SotwStream(this, call, access, 'ads', 'sotw'),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest__Output, Buffer>) => new DeltaStream(this, call, access, 'ads', 'delta'),
    });
    for (const s of PER_TYPE_SERVICES) {
      server.addService(perTypeDefinition(s), {
        [s.stream]: (call: grpc.ServerDuplexStream<DiscoveryRequest__Output, Buffer>) => new SotwStream(this, call, access, s.short, 'sotw', s.typeUrl),
        [s.delta]: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest__Output, Buffer>) => new DeltaStream(this, call, access, s.short, 'delta', s.typeUrl),
        [s.fetch]: (call: grpc.ServerUnaryCall<DiscoveryRequest__Output, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
          this.fetch(s, call, access).then(
            (b) => cb(null, b),
            (err: unknown) =>
              cb(err instanceof AccessDenied ? { code: err.code, details: err.message } : { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) }),
          );
        },
      });
    }
  }

  /**
   * Serves on `address` (host:port; port 0 picks a free one) and returns the port. Each call
   * opens another port with its own credentials and access policy (e.g. 15010 plaintext
   * without Secrets and 15012 TLS bound to workload identities); `services` adds other gRPC
   * services to that port (the mesh CA shares 15012).
   */
  async listen(address: string, credentials = grpc.ServerCredentials.createInsecure(), access: PortAccess = OPEN_ACCESS, services?: (server: grpc.Server) => void): Promise<number> {
    const server = new grpc.Server({
      ...NO_CHANNELZ,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.max_receive_message_length': this.limits.maxMessageBytes,
      'grpc.max_concurrent_streams': this.limits.maxStreamsPerConnection,
    });
    this.register(server, access);
    services?.(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, credentials, (err, p) => (err ? reject(new Error(`cannot serve xDS on ${address}: ${err.message}`, { cause: err })) : resolve(p))),
    );
    this.grpcServers.push(server);
    this.log.info('xDS server listening', { address, port, tls: credentials._isSecure(), access: access.kind });
    return port;
  }

  /** Ends every stream (clients reconnect elsewhere or later) and stops the gRPC servers. */
  async close(): Promise<void> {
    for (const p of this.registry.list()) for (const s of [...p.streams]) s.end();
    const servers = this.grpcServers.splice(0);
    await Promise.all(servers.map((server) => shutdownGrpcServer(server)));
  }

  /** Re-evaluates proxies and sends what changed. Resolves when the responses are written. */
  async push(req: PushRequest): Promise<{ proxies: number; calledOff: boolean }> {
    const started = performance.now();
    const wanted = req.types ? new Set(req.types) : undefined;
    // Once per push, not per proxy: the provider gets this same set for every proxy.
    const types = wanted ? new Set(ALL_TYPES.filter((t) => wanted.has(t))) : ALL_TYPE_SET;
    const targets = req.proxies ? [...req.proxies].map((id) => this.registry.get(id)).filter((p): p is Proxy => !!p) : this.registry.list();
    const complete = await forEachBounded(targets, this.concurrency, async (p) => void (await this.refresh(p, types, req.reason, started)), req.signal);
    if (complete) pushDuration.observe({ reason: req.reason }, (performance.now() - started) / 1000);
    return { proxies: targets.length, calledOff: !complete };
  }

  /** Attaches a stream to its node (see proxy-registry.ts); throws AccessDenied if refused. */
  connect(info: ProxyInfo, stream: StreamHandle): Proxy {
    const podSa = info.identity && info.podName ? this.podServiceAccount(info.identity.namespace, info.podName) : undefined;
    if (info.identity && podSa !== undefined && podSa !== info.identity.serviceAccount) {
      throw new AccessDenied(grpc.status.PERMISSION_DENIED, `node ${info.id} names pod ${info.identity.namespace}/${info.podName ?? ''}, which runs as service account ${podSa}, not ${info.identity.serviceAccount}`);
    }
    const client = info.identity ? `identity ${identityKey(info)}` : `peer ${peerHost(stream.peer)}`;
    const open = this.streamsByClient.get(client) ?? 0;
    if (open >= this.limits.maxStreamsPerIdentity) {
      limited.inc({ limit: 'streams-per-identity' });
      this.log.warn('xDS stream refused: too many streams of one client', { proxy: info.id, client, limit: this.limits.maxStreamsPerIdentity });
      throw new AccessDenied(grpc.status.RESOURCE_EXHAUSTED, `${client} already holds ${open} xDS streams (at most ${this.limits.maxStreamsPerIdentity})`);
    }
    const r = this.registry.attach(info, stream);
    if (r.kind === 'refused') {
      this.log.warn('xDS stream refused: its node id is taken', { proxy: info.id, identity: identityKey(info), owner: r.owner, reason: r.reason });
      throw new AccessDenied(grpc.status.PERMISSION_DENIED, r.reason, 'node-in-use');
    }
    this.streamsByClient.set(client, open + 1);
    this.clientOf.set(stream, client);
    for (const s of r.replaced) s.replaced(`a newer stream of node ${info.id} took this stream's place`);
    if (r.kind === 'new') {
      this.log.info(r.replaced.length > 0 ? 'proxy reconnected with a new node; its older streams were ended' : 'proxy connected', {
        proxy: info.id,
        kind: info.kind,
        ip: info.ip,
        agent: info.userAgent,
      });
      r.proxy.initialized = this.refresh(r.proxy, ALL_TYPE_SET, 'connect', performance.now());
    }
    return r.proxy;
  }

  disconnect(proxy: Proxy, stream: StreamHandle): void {
    const client = this.clientOf.get(stream);
    if (client !== undefined) {
      this.clientOf.delete(stream);
      const n = (this.streamsByClient.get(client) ?? 1) - 1;
      if (n > 0) this.streamsByClient.set(client, n);
      else this.streamsByClient.delete(client);
    }
    this.registry.detach(proxy, stream);
    if (!this.registry.get(proxy.id)) this.log.info('proxy disconnected', { proxy: proxy.id });
  }

  admission(): Promise<boolean> | boolean {
    return this.gate.admit();
  }

  acked(ev: AckEvent): void {
    ev.proxy.noteAck([ev.typeUrl]);
    this.emitSafely('ack', ev);
  }

  nacked(ev: NackEvent): void {
    const t = ev.nack.typeUrl as TypeUrl;
    ev.proxy.noteRejection(t, ev.nack.message);
    ev.proxy.noteSync([t]);
    this.emitSafely('nack', ev);
  }

  /** A failing listener is logged; it never fails the proxy's stream. */
  private emitSafely<K extends keyof XdsEvents>(name: K, ...args: XdsEvents[K]): void {
    try {
      (this.events.emit as (n: K, ...a: XdsEvents[K]) => boolean)(name, ...args);
    } catch (err) {
      this.log.error('an xDS event listener failed', { event: name, error: errorText(err) });
    }
  }

  /**
   * Evaluates `types` for a proxy; tells its streams about the types whose resources changed.
   * False if the provider failed (the proxy keeps what it has).
   */
  private async refresh(proxy: Proxy, types: ReadonlySet<TypeUrl>, reason: string, startedAt: number): Promise<boolean> {
    const seq = ++proxy.evaluations;
    // Taken before the provider reads the model: the desired state is at least this new.
    const epoch = this.epoch();
    let snap;
    try {
      snap = await this.provider.snapshot(proxy.info, types);
    } catch (err) {
      snapshotErrors.inc();
      this.log.error('computing the configuration of a proxy failed; it keeps what it has', { proxy: proxy.id, error: errorText(err) });
      return false;
    }
    const changed: TypeUrl[] = [];
    const applied: TypeUrl[] = [];
    for (const t of types) {
      if ((proxy.appliedEvaluation.get(t) ?? 0) > seq) continue; // a newer evaluation won
      proxy.appliedEvaluation.set(t, seq);
      applied.push(t);
      const prev = proxy.desired.get(t);
      const next = this.encodeShared(proxy, t, snap[t] as ReadonlyMap<string, ResourceOf[TypeUrl]> | undefined, prev);
      if (!this.same(prev, next)) {
        proxy.desired.set(t, next);
        changed.push(t);
      }
    }
    proxy.evaluatedAt(applied, epoch);
    if (changed.length > 0) for (const s of proxy.streams) s.desiredChanged(changed, reason, startedAt);
    proxy.noteSync(applied);
    return true;
  }

  /**
   * Whether two desired maps hold the same resources. The names that differ are remembered per
   * pair of maps (desired-diff.ts): proxies alike go from the same shared map to the same shared
   * map, so a push compares the two once, not once per proxy, and each of their streams then
   * plans from that same list (type-state.ts).
   */
  private same(prev: ReadonlyMap<string, EncodedResource> | undefined, next: ReadonlyMap<string, EncodedResource>): boolean {
    if (!prev) return next.size === 0; // nothing yet is the same as nothing
    return changedNames(prev, next).length === 0;
  }

  /** encodeAll, shared by every proxy handed the same map (unless a resource failed to encode). */
  private encodeShared(proxy: Proxy, t: TypeUrl, resources: ReadonlyMap<string, ResourceOf[TypeUrl]> | undefined, prev: ReadonlyMap<string, EncodedResource> | undefined): ReadonlyMap<string, EncodedResource> {
    if (!resources) return this.encodeAll(proxy, t, resources, prev).map;
    const known = this.encodedMaps.get(resources);
    if (known) return known;
    const { map, failed } = this.encodeAll(proxy, t, resources, prev);
    // A failed resource keeps this proxy's previous version: that map is the proxy's own.
    if (!failed) this.encodedMaps.set(resources, map);
    return map;
  }

  /** Encodes a type's resources; a resource that fails keeps its previous version (if any). */
  private encodeAll(proxy: Proxy | undefined, t: TypeUrl, resources: ReadonlyMap<string, ResourceOf[TypeUrl]> | undefined, prev: ReadonlyMap<string, EncodedResource> | undefined): { map: Map<string, EncodedResource>; failed: boolean } {
    const out = new Map<string, EncodedResource>();
    let failed = false;
    for (const [name, msg] of resources ?? []) {
      try {
        const own = resourceName(t, msg);
        if (own !== undefined && own !== '' && own !== name) throw new Error(`the resource names itself "${own}"`);
        out.set(name, this.cache.encode(t, name, msg));
      } catch (err) {
        failed = true;
        snapshotErrors.inc();
        const old = prev?.get(name);
        if (old) out.set(name, old);
        this.log.error('cannot encode a resource; the previous version stays', { proxy: proxy?.id, type: SHORT_NAME[t], resource: name, error: errorText(err) });
      }
    }
    return { map: out, failed };
  }

  /** The unary Fetch* methods: one response with what the node should have, no state kept. */
  private async fetch(s: PerTypeService, call: grpc.ServerUnaryCall<DiscoveryRequest__Output, Buffer>, access: PortAccess): Promise<Buffer> {
    const req = call.request;
    let info: ProxyInfo;
    try {
      info = await admit(access, parseNode(req.node), { metadata: call.metadata, peerCertificate: verifiedPeer(call) });
    } catch (err) {
      if (err instanceof AccessDenied) {
        refusals.inc({ reason: err.code === grpc.status.UNAUTHENTICATED ? 'unauthenticated' : 'identity-mismatch' });
        this.log.warn('xDS fetch refused', { node: req.node?.id, error: err.message });
      }
      throw err;
    }
    const snap = await this.provider.snapshot(info, new Set([s.typeUrl]));
    const all = this.encodeAll(undefined, s.typeUrl, snap[s.typeUrl] as ReadonlyMap<string, ResourceOf[TypeUrl]> | undefined, undefined).map;
    const names = req.resource_names.filter((n) => n !== '*');
    const wildcard = names.length === 0 || req.resource_names.includes('*');
    const resources = [...all.values()].filter((r) => (wildcard && isWildcardType(s.typeUrl)) || names.includes(r.name));
    return encodeSotwResponse({ versionInfo: setVersion(resources), typeUrl: s.typeUrl, nonce: '', resources, controlPlane: this.controlPlaneId });
  }
}

/** The host of a gRPC peer string ("ipv4:10.0.0.1:5000", "ipv6:[::1]:5000", "10.0.0.1:5000"). */
function peerHost(peer: string): string {
  const addr = peer.replace(/^ipv[46]:/, '');
  const colon = addr.lastIndexOf(':');
  return (colon > 0 ? addr.slice(0, colon) : addr).replace(/^\[|\]$/g, '');
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
