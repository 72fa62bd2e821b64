// The SDS protocol as the agent serves it: one state-of-the-world or delta stream per Envoy
// subscription (Envoy opens one per secret name), the usual xDS rules:
// - one response in flight per stream: the next is sent once Envoy has ACKed or NACKed it;
// - a nonce per response; a state-of-the-world request answering an older nonce is stale and
//   ignored whole (the ACK of the latest response carries the current subscription);
// - a NACK (error_detail) is logged and the rejected content is not sent again until it
//   changes; Envoy keeps what it had;
// - a renewal (SdsServer.update) sends the changed secrets on every open stream that asked for
//   them, with a new version (a hash of the content) and nonce.
// Names the agent does not have (yet) are not answered: Envoy waits for them, as with Istio's
// agent, and gets them with the first certificate. There is no wildcard for secrets.
import { createHash, randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../../src/util/logger.js';
import { encodeDeltaDiscoveryResponse, encodeDiscoveryResponse, SECRET_TYPE_URL, type DeltaDiscoveryRequest, type DiscoveryRequest, type EncodedSecret, type Status } from './sds-wire.js';

/** What the streams read: the current secrets by name. */
export interface SecretSource {
  readonly controlPlaneId: string;
  readonly log: Logger;
  secret(name: string): EncodedSecret | undefined;
  /** Whether `name` is one the agent serves (it may not have it yet: before the CA signed). */
  serves(name: string): boolean;
}

/** Distinguishes nonces of this agent from those of an earlier one. */
const BOOT = randomBytes(3).toString('hex');
let streamSeq = 0;

/** A state-of-the-world version of a set of secrets: a digest of their names and versions. */
export function setVersion(secrets: readonly EncodedSecret[]): string {
  const h = createHash('sha256');
  for (const s of [...secrets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) h.update(s.name).update('\u0000').update(s.version).update('\u0000');
  return h.digest('base64url').slice(0, 16);
}

abstract class SecretStream<Req extends { type_url: string; response_nonce: string; error_detail?: Status | null; node?: { id: string } | null }> {
  protected readonly id = ++streamSeq;
  protected closed = false;
  protected node = '';
  /** The response Envoy has not answered yet. */
  protected inflight: { nonce: string; version: string } | undefined;
  private nonceSeq = 0;
  private readonly closeHandlers: Array<() => void> = [];
  private readonly missing = new Set<string>();

  constructor(
    protected readonly source: SecretSource,
    private readonly call: grpc.ServerDuplexStream<Req, Buffer>,
    private readonly protocol: 'sotw' | 'delta',
  ) {
    call.on('data', (req: Req) => this.receive(req));
    call.on('end', () => this.end());
    call.on('error', () => this.closeOnce());
    call.on('cancelled', () => this.closeOnce());
  }

  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.closeHandlers.push(fn);
  }

  end(): void {
    if (!this.closed) this.call.end();
    this.closeOnce();
  }

  /** Sends what a renewal changed. Resolves when the response is handed to the socket. */
  refresh(): Promise<void> {
    return this.step();
  }

  protected abstract apply(req: Req): void;
  protected abstract next(nonce: string): { buf: Buffer; version: string; names: string[] } | undefined;

  private receive(req: Req): void {
    if (this.closed) return;
    if (req.node?.id && !this.node) this.node = req.node.id;
    if (req.type_url !== '' && req.type_url !== SECRET_TYPE_URL) {
      this.source.log.warn('SDS request for another type; ending the stream', { stream: this.id, type: req.type_url });
      this.call.emit('error', Object.assign(new Error(`this server serves ${SECRET_TYPE_URL} only`), { code: grpc.status.INVALID_ARGUMENT, details: `this server serves ${SECRET_TYPE_URL} only` }));
      this.closeOnce();
      return;
    }
    this.apply(req);
    void this.step();
  }

  /** Records the answer to the response in flight, if `req` is it. */
  protected answer(req: Req): void {
    if (!this.inflight || req.response_nonce !== this.inflight.nonce) return;
    const { version, nonce } = this.inflight;
    this.inflight = undefined;
    if (req.error_detail) {
      this.source.log.warn('Envoy rejected the secrets', { stream: this.id, node: this.node, version, nonce, error: req.error_detail.message });
    } else {
      this.source.log.debug('secrets acknowledged', { stream: this.id, node: this.node, version, nonce });
    }
  }

  /** Envoy asked for a secret the agent does not have: said once per name and stream. */
  protected unknown(name: string): void {
    if (this.missing.has(name)) return;
    this.missing.add(name);
    if (this.source.serves(name)) this.source.log.debug('Envoy waits for a secret not obtained yet', { stream: this.id, node: this.node, name });
    else this.source.log.warn('Envoy asked for a secret the agent does not serve', { stream: this.id, node: this.node, name });
  }

  private step(): Promise<void> {
    if (this.closed || this.inflight) return Promise.resolve();
    const nonce = `${BOOT}-${this.id}-${++this.nonceSeq}`;
    const r = this.next(nonce);
    if (!r) return Promise.resolve();
    this.inflight = { nonce, version: r.version };
    this.source.log.debug('secrets sent', { stream: this.id, protocol: this.protocol, node: this.node, names: r.names, version: r.version, nonce });
    return new Promise<void>((resolve) => this.call.write(r.buf, () => resolve()));
  }

  private closeOnce(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fn of this.closeHandlers.splice(0)) fn();
  }
}

/** StreamSecrets: each response holds every requested secret, with one version for the set. */
export class SotwSecretStream extends SecretStream<DiscoveryRequest> {
  private names: string[] | undefined;
  /** The version of the last response sent (accepted or not): not sent again. */
  private lastVersion: string | undefined;
  private lastNonce = '';

  constructor(source: SecretSource, call: grpc.ServerDuplexStream<DiscoveryRequest, Buffer>) {
    super(source, call, 'sotw');
  }

  protected apply(req: DiscoveryRequest): void {
    if (this.names !== undefined) {
      // A request answering an older response than the latest one is stale: ignore it whole.
      const stale = req.response_nonce === '' ? this.inflight !== undefined : req.response_nonce !== this.lastNonce;
      if (stale) return;
    }
    this.answer(req);
    this.names = [...new Set(req.resource_names)];
  }

  protected next(nonce: string): { buf: Buffer; version: string; names: string[] } | undefined {
    if (!this.names) return undefined;
    const secrets: EncodedSecret[] = [];
    for (const n of this.names) {
      const s = this.source.secret(n);
      if (s) secrets.push(s);
      else this.unknown(n);
    }
    if (secrets.length === 0) return undefined;
    const version = setVersion(secrets);
    if (version === this.lastVersion) return undefined;
    this.lastVersion = version;
    this.lastNonce = nonce;
    const buf = encodeDiscoveryResponse({ versionInfo: version, nonce, secrets, controlPlane: this.source.controlPlaneId });
    return { buf, version, names: secrets.map((s) => s.name) };
  }
}

/** DeltaSecrets: each response holds the subscribed secrets whose version Envoy does not have. */
export class DeltaSecretStream extends SecretStream<DeltaDiscoveryRequest> {
  private readonly subscribed = new Set<string>();
  /** The version of each secret Envoy has (or was last sent: a rejected one is not resent). */
  private readonly known = new Map<string, string>();
  private started = false;

  constructor(source: SecretSource, call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, Buffer>) {
    super(source, call, 'delta');
  }

  protected apply(req: DeltaDiscoveryRequest): void {
    if (!this.started) {
      this.started = true;
      for (const [name, version] of Object.entries(req.initial_resource_versions ?? {})) this.known.set(name, version);
    }
    this.answer(req);
    // Subscription changes count even on a request with an older nonce: they are incremental.
    for (const n of req.resource_names_subscribe) if (n !== '*') this.subscribed.add(n);
    for (const n of req.resource_names_unsubscribe) {
      this.subscribed.delete(n);
      this.known.delete(n);
    }
  }

  protected next(nonce: string): { buf: Buffer; version: string; names: string[] } | undefined {
    const secrets: EncodedSecret[] = [];
    const removed: string[] = [];
    for (const n of this.subscribed) {
      const s = this.source.secret(n);
      if (!s) {
        this.unknown(n);
        if (this.known.delete(n)) removed.push(n);
      } else if (this.known.get(n) !== s.version) {
        secrets.push(s);
      }
    }
    if (secrets.length === 0 && removed.length === 0) return undefined;
    for (const s of secrets) this.known.set(s.name, s.version);
    const version = setVersion(secrets);
    const buf = encodeDeltaDiscoveryResponse({ systemVersionInfo: version, nonce, secrets, removed, controlPlane: this.source.controlPlaneId });
    return { buf, version, names: secrets.map((s) => s.name) };
  }
}

/** FetchSecrets: the requested secrets now, no state kept. */
export function fetchSecrets(source: SecretSource, req: DiscoveryRequest): Buffer {
  const secrets = req.resource_names.map((n) => source.secret(n)).filter((s): s is EncodedSecret => !!s);
  return encodeDiscoveryResponse({ versionInfo: setVersion(secrets), nonce: '', secrets, controlPlane: source.controlPlaneId });
}
