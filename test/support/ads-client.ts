// A small xDS client over @grpc/grpc-js, for tests and benchmarks: it speaks state of the world
// or delta on ADS (or one per-type service), keeps what it received per type, and ACKs, or
// NACKs when `reject` says so. Not used by the control plane itself.
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { adsDefinition, PER_TYPE_SERVICES, perTypeDefinition } from '../../src/xds/services.js';
import type { TypeUrl } from '../../src/xds/types.js';
import { isWildcardType } from '../../src/xds/types.js';
import type { DeltaDiscoveryRequest } from '../../src/xds/generated/envoy/service/discovery/v3/DeltaDiscoveryRequest.js';
import type { DiscoveryRequest } from '../../src/xds/generated/envoy/service/discovery/v3/DiscoveryRequest.js';
import type { Node } from '../../src/xds/generated/envoy/config/core/v3/Node.js';
import type { DeltaDiscoveryResponse__Output, DiscoveryResponse__Output } from '../../src/xds/wire.js';
import { decodeMessage } from '../../src/xds/protos.js';
import { messageName } from '../../src/xds/types.js';

export interface ReceivedResponse {
  readonly typeUrl: string;
  readonly nonce: string;
  readonly version: string;
  readonly names: readonly string[];
  readonly removed: readonly string[];
  /** The raw Any value bytes per resource name (to check that proxies share bytes). */
  readonly values: ReadonlyMap<string, Buffer>;
  readonly nacked: boolean;
}

export interface AdsClientOptions {
  node: Node;
  protocol?: 'sotw' | 'delta';
  /** Per-type service to use instead of ADS ("cds", "lds", ...). */
  service?: string;
  /** Returns an error message to NACK a response with; ACK otherwise. */
  reject?: (r: ReceivedResponse) => string | undefined;
  /** Sees every response as it arrives, before it is ACKed or NACKed (e.g. to subscribe as Envoy does to what CDS and LDS name). */
  onResponse?: (r: ReceivedResponse) => void;
  /** Do not answer responses automatically (call ack()/nack() yourself). */
  manual?: boolean;
  /** gRPC channel options, e.g. `{ 'grpc.use_local_subchannel_pool': 1 }` for a connection of its own. */
  channelOptions?: grpc.ChannelOptions;
  /** Keep every response in `received` (default true; benchmarks with many clients turn it off). */
  history?: boolean;
  /** TLS to the control plane (15012): verify it against `rootCa` (PEM), as `serverName`. */
  tls?: { rootCa: string; serverName: string };
  /** Sent as `authorization: Bearer <token>` (a service account token, audience istio-ca). */
  token?: string;
}

interface TypeClientState {
  names: Set<string>;
  wildcard: boolean;
  version: string;
  nonce: string;
  resources: Map<string, { version: string; value: Buffer }>;
  pending: ReceivedResponse | undefined;
  count: number;
}

type Stream = grpc.ClientDuplexStream<DiscoveryRequest | DeltaDiscoveryRequest, DiscoveryResponse__Output | DeltaDiscoveryResponse__Output>;

export class AdsClient {
  readonly received: ReceivedResponse[] = [];
  private readonly client: grpc.Client;
  private readonly stream: Stream;
  private readonly types = new Map<string, TypeClientState>();
  private readonly waiters = new Set<() => void>();
  private sentNode = false;
  private closed = false;
  error: Error | undefined;

  constructor(
    target: string,
    private readonly opts: AdsClientOptions,
  ) {
    const protocol = opts.protocol ?? 'sotw';
    const svc = opts.service ? PER_TYPE_SERVICES.find((s) => s.short === opts.service) : undefined;
    if (opts.service && !svc) throw new Error(`no discovery service "${opts.service}"`);
    const def = svc ? perTypeDefinition(svc) : adsDefinition;
    const method = svc ? (protocol === 'delta' ? svc.delta : svc.stream) : protocol === 'delta' ? 'DeltaAggregatedResources' : 'StreamAggregatedResources';
    const Ctor = grpc.makeGenericClientConstructor(def, 'xds');
    const credentials = opts.tls ? grpc.credentials.createSsl(Buffer.from(opts.tls.rootCa)) : grpc.credentials.createInsecure();
    const channelOptions = opts.tls ? { 'grpc.ssl_target_name_override': opts.tls.serverName, 'grpc.default_authority': opts.tls.serverName, ...opts.channelOptions } : opts.channelOptions;
    this.client = new Ctor(target, credentials, channelOptions);
    const open = (this.client as unknown as Record<string, (m: grpc.Metadata) => Stream>)[method].bind(this.client);
    const metadata = new grpc.Metadata();
    if (opts.token) metadata.set('authorization', `Bearer ${opts.token}`);
    this.stream = open(metadata);
    this.stream.on('data', (r: DiscoveryResponse__Output | DeltaDiscoveryResponse__Output) => this.onResponse(r));
    this.stream.on('error', (err: Error) => {
      if (!this.closed) this.error = err;
      this.wake();
    });
    this.stream.on('end', () => this.wake());
  }

  get protocol(): 'sotw' | 'delta' {
    return this.opts.protocol ?? 'sotw';
  }

  private state(typeUrl: string): TypeClientState {
    let st = this.types.get(typeUrl);
    if (!st) {
      st = { names: new Set(), wildcard: false, version: '', nonce: '', resources: new Map(), pending: undefined, count: 0 };
      this.types.set(typeUrl, st);
    }
    return st;
  }

  /** Subscribes: "*" (or [] as a first, legacy request) for a wildcard, else names. */
  subscribe(typeUrl: TypeUrl, names: readonly string[]): void {
    const st = this.state(typeUrl);
    const add = names.filter((n) => n !== '*' && !st.names.has(n));
    for (const n of names) if (n !== '*') st.names.add(n);
    const wildcardNow = names.includes('*') || (names.length === 0 && isWildcardType(typeUrl) && st.names.size === 0);
    if (this.protocol === 'delta') {
      const subscribe = names.includes('*') ? ['*', ...add] : add;
      st.wildcard ||= wildcardNow;
      this.send({ type_url: typeUrl, resource_names_subscribe: subscribe });
    } else {
      st.wildcard = wildcardNow || (st.wildcard && names.includes('*'));
      this.sendSotw(typeUrl, st);
    }
  }

  /** Unsubscribes from names ("*" drops the wildcard). */
  unsubscribe(typeUrl: TypeUrl, names: readonly string[]): void {
    const st = this.state(typeUrl);
    for (const n of names) {
      st.names.delete(n);
      if (n === '*') st.wildcard = false;
    }
    if (this.protocol === 'delta') this.send({ type_url: typeUrl, resource_names_unsubscribe: [...names] });
    else this.sendSotw(typeUrl, st);
  }

  private sotwNames(st: TypeClientState): string[] {
    return st.wildcard && st.names.size > 0 ? ['*', ...st.names] : [...st.names];
  }

  private sendSotw(typeUrl: string, st: TypeClientState, error?: string): void {
    this.send({
      type_url: typeUrl,
      version_info: st.version,
      response_nonce: st.nonce,
      resource_names: this.sotwNames(st),
      ...(error ? { error_detail: { code: grpc.status.INVALID_ARGUMENT, message: error } } : {}),
    });
  }

  /** Sends a raw request (the node is added to the stream's first request). */
  send(req: DiscoveryRequest | DeltaDiscoveryRequest): void {
    const withNode = this.sentNode ? req : { ...req, node: this.opts.node };
    this.sentNode = true;
    this.stream.write(withNode);
  }

  private onResponse(r: DiscoveryResponse__Output | DeltaDiscoveryResponse__Output): void {
    const delta = 'system_version_info' in r;
    const values = new Map<string, Buffer>();
    const names: string[] = [];
    if (delta) {
      for (const res of (r as DeltaDiscoveryResponse__Output).resources) {
        names.push(res.name);
        values.set(res.name, view(res.resource?.value));
      }
    } else {
      for (const any of (r as DiscoveryResponse__Output).resources) {
        const value = view(any.value);
        const name = resourceNameOf(value);
        names.push(name);
        values.set(name, value);
      }
    }
    const version = delta ? (r as DeltaDiscoveryResponse__Output).system_version_info : (r as DiscoveryResponse__Output).version_info;
    const removed = delta ? (r as DeltaDiscoveryResponse__Output).removed_resources : [];
    const base = { typeUrl: r.type_url, nonce: r.nonce, version, names, removed, values };
    const error = this.opts.reject?.({ ...base, nacked: false });
    const received: ReceivedResponse = { ...base, nacked: error !== undefined };
    this.opts.onResponse?.(received);
    if (this.opts.history !== false) this.received.push(received);
    const st = this.state(r.type_url);
    st.pending = received;
    st.count++;
    if (!this.opts.manual) {
      if (error !== undefined) this.nack(r.type_url, error);
      else this.ack(r.type_url);
    }
    this.wake();
  }

  /** ACKs the latest response of a type, applying it. */
  ack(typeUrl: string): void {
    const st = this.state(typeUrl);
    const r = st.pending;
    if (!r) return;
    st.pending = undefined;
    st.nonce = r.nonce;
    if (this.protocol === 'delta') {
      for (const [name, value] of r.values) st.resources.set(name, { version: r.version, value });
      for (const name of r.removed) st.resources.delete(name);
      this.send({ type_url: typeUrl, response_nonce: r.nonce });
    } else {
      if (isWildcardType(typeUrl as TypeUrl)) st.resources.clear();
      for (const [name, value] of r.values) st.resources.set(name, { version: r.version, value });
      st.version = r.version;
      this.sendSotw(typeUrl, st);
    }
    this.wake();
  }

  /** NACKs the latest response of a type: keeps the previous resources. */
  nack(typeUrl: string, message: string): void {
    const st = this.state(typeUrl);
    const r = st.pending;
    if (!r) return;
    st.pending = undefined;
    st.nonce = r.nonce;
    if (this.protocol === 'delta') this.send({ type_url: typeUrl, response_nonce: r.nonce, error_detail: { code: grpc.status.INVALID_ARGUMENT, message } });
    else this.sendSotw(typeUrl, st, message);
    this.wake();
  }

  /** The resources the client holds (after ACKs), decoded. */
  resources<T = Record<string, unknown>>(typeUrl: TypeUrl): Map<string, T> {
    const out = new Map<string, T>();
    for (const [name, { value }] of this.state(typeUrl).resources) out.set(name, decodeMessage<T>(messageName(typeUrl), value));
    return out;
  }

  names(typeUrl: TypeUrl): string[] {
    return [...this.state(typeUrl).resources.keys()].sort();
  }

  /** How many resources of a type the client holds (cheap, for benchmarks). */
  size(typeUrl: TypeUrl): number {
    return this.state(typeUrl).resources.size;
  }

  /** How many responses of a type arrived (cheap, for benchmarks). */
  responseCount(typeUrl: TypeUrl): number {
    return this.state(typeUrl).count;
  }

  responses(typeUrl: TypeUrl): ReceivedResponse[] {
    return this.received.filter((r) => r.typeUrl === typeUrl);
  }

  /** Resolves when `cond` holds (checked on every response and every 20 ms), rejects after `timeoutMs`. */
  async until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
    const holds = (): boolean => {
      try {
        return cond();
      } catch {
        return false;
      }
    };
    if (holds()) return;
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (holds()) done(resolve);
        else if (this.error) done(() => reject(this.error));
      };
      const poll = setInterval(check, 20);
      const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${what}`))), timeoutMs);
      const done = (f: () => void): void => {
        clearTimeout(timer);
        clearInterval(poll);
        this.waiters.delete(check);
        f();
      };
      this.waiters.add(check);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  close(): void {
    this.closed = true;
    this.stream.end();
    this.stream.cancel();
    this.client.close();
  }
}

/** A Buffer over the same bytes (decoded bytes fields are views of the received message). */
function view(b: Uint8Array | undefined): Buffer {
  return b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : Buffer.alloc(0);
}

/** Field 1 of every xDS resource type is its name (cluster_name for ClusterLoadAssignment). */
function resourceNameOf(value: Buffer): string {
  const r = protobuf.Reader.create(value);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | 2)) return r.string();
    r.skipType(tag & 7);
  }
  return '';
}
