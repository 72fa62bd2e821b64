// The tests' SDS server: what test/support/envoy.ts gives each Envoy it starts in place of a pod's
// agent (the workload certificate `default` and the mesh root `ROOTCA`, Istio's names, over a
// Unix socket), so that tests of the control plane's configuration run Envoys with mesh TLS
// without an agent process each. The product's agent is Go (src/sidecar/agent: the same
// protocol rules, proven with the real Envoy in test/integration/agent-process.test.ts); this
// one keeps grpc-js and a small protobufjs root (sds-wire.ts, sds-streams.ts).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ROOT_CA, WORKLOAD_CERT } from '../../../src/api/mesh-identity.js';
import { NO_CHANNELZ } from '../../../src/util/grpc-options.js';
import { shutdownGrpcServer } from '../../../src/util/grpc-shutdown.js';
import type { Logger } from '../../../src/util/logger.js';
import type { Secret } from '../../../src/xds/types.js';
import { DeltaSecretStream, fetchSecrets, SotwSecretStream, type SecretSource } from './sds-streams.js';
import { decodeDeltaDiscoveryRequest, decodeDiscoveryRequest, encodeSecret, type DeltaDiscoveryRequest, type DiscoveryRequest, type EncodedSecret } from './sds-wire.js';

export interface WorkloadSecrets {
  /** The workload certificate and the intermediates above it (PEM), leaf first, no root. */
  chainPem: string;
  keyPem: string;
  /** The mesh root(s) peers are verified against (PEM). */
  rootPem: string;
}

/** The two SDS resources for `s`, as Envoy's Secret messages (for tools and tests). */
export function sdsSecrets(s: WorkloadSecrets): Map<string, Secret> {
  return new Map<string, Secret>([
    [WORKLOAD_CERT, { name: WORKLOAD_CERT, tls_certificate: { certificate_chain: { inline_bytes: Buffer.from(s.chainPem) }, private_key: { inline_bytes: Buffer.from(s.keyPem) } } }],
    [ROOT_CA, { name: ROOT_CA, validation_context: { trusted_ca: { inline_bytes: Buffer.from(s.rootPem) } } }],
  ]);
}

function encoded(name: string, bytes: Uint8Array): EncodedSecret {
  return { name, bytes, version: createHash('sha256').update(bytes).digest('base64url').slice(0, 16) };
}

function encodeAll(s: WorkloadSecrets): Map<string, EncodedSecret> {
  return new Map([
    [WORKLOAD_CERT, encoded(WORKLOAD_CERT, encodeSecret(WORKLOAD_CERT, { certificateChainPem: s.chainPem, privateKeyPem: s.keyPem }))],
    [ROOT_CA, encoded(ROOT_CA, encodeSecret(ROOT_CA, { trustedCaPem: s.rootPem }))],
  ]);
}

const SERVICE = 'envoy.service.secret.v3.SecretDiscoveryService';
const toBuffer = (b: Buffer): Buffer => b;
const definition = {
  StreamSecrets: { path: `/${SERVICE}/StreamSecrets`, requestStream: true, responseStream: true, requestSerialize: toBuffer, requestDeserialize: decodeDiscoveryRequest, responseSerialize: toBuffer, responseDeserialize: toBuffer },
  DeltaSecrets: { path: `/${SERVICE}/DeltaSecrets`, requestStream: true, responseStream: true, requestSerialize: toBuffer, requestDeserialize: decodeDeltaDiscoveryRequest, responseSerialize: toBuffer, responseDeserialize: toBuffer },
  FetchSecrets: { path: `/${SERVICE}/FetchSecrets`, requestStream: false, responseStream: false, requestSerialize: toBuffer, requestDeserialize: decodeDiscoveryRequest, responseSerialize: toBuffer, responseDeserialize: toBuffer },
} as unknown as grpc.ServiceDefinition;

export class SdsServer implements SecretSource {
  readonly controlPlaneId = 'trellis-agent';
  private current = new Map<string, EncodedSecret>();
  private readonly streams = new Set<SotwSecretStream | DeltaSecretStream>();
  private server: grpc.Server | undefined;

  constructor(
    private readonly socketPath: string,
    readonly log: Logger,
  ) {}

  secret(name: string): EncodedSecret | undefined {
    return this.current.get(name);
  }

  serves(name: string): boolean {
    return name === WORKLOAD_CERT || name === ROOT_CA;
  }

  /**
   * Serves on the socket (replacing a stale socket file of an earlier agent): `secrets`, or
   * nothing until update() (Envoy waits for them).
   */
  async start(secrets?: WorkloadSecrets): Promise<void> {
    this.current = secrets ? encodeAll(secrets) : new Map();
    const server = new grpc.Server({ ...NO_CHANNELZ, 'grpc.keepalive_permit_without_calls': 1 });
    server.addService(definition, {
      StreamSecrets: (call: grpc.ServerDuplexStream<DiscoveryRequest, Buffer>) => this.track(new SotwSecretStream(this, call)),
      DeltaSecrets: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, Buffer>) => this.track(new DeltaSecretStream(this, call)),
      FetchSecrets: (call: grpc.ServerUnaryCall<DiscoveryRequest, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, fetchSecrets(this, call.request)),
    });
    fs.mkdirSync(path.dirname(this.socketPath), { recursive: true });
    fs.rmSync(this.socketPath, { force: true });
    const address = `unix:${this.socketPath}`;
    await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(new Error(`cannot serve SDS on ${address}: ${err.message}`, { cause: err })) : resolve(p))),
    );
    this.server = server;
    // Only this pod's proxy (same user) may connect.
    fs.chmodSync(this.socketPath, 0o600);
    this.log.info('SDS server listening', { address });
  }

  /** Replaces the certificate (renewal) or the root; Envoy gets them on its open streams. */
  async update(secrets: WorkloadSecrets): Promise<void> {
    this.current = encodeAll(secrets);
    await Promise.all([...this.streams].map((s) => s.refresh()));
  }

  async close(): Promise<void> {
    for (const s of [...this.streams]) s.end();
    const server = this.server;
    this.server = undefined;
    if (server) await shutdownGrpcServer(server);
  }

  private track(s: SotwSecretStream | DeltaSecretStream): void {
    this.streams.add(s);
    s.onClose(() => this.streams.delete(s));
  }
}
