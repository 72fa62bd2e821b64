// The agent's SDS server: Envoy in the same pod asks it, over a Unix socket, for the workload
// certificate (`default`) and the mesh root (`ROOTCA`), Istio's names. The key is only ever
// here and in Envoy. A renewal replaces both resources and pushes them on the open stream, so
// Envoy swaps certificates without dropping connections.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../util/logger.js';
import { XdsServer } from '../xds/server.js';
import { StaticSnapshotProvider } from '../xds/snapshot.js';
import { TypeUrl, type Secret } from '../xds/types.js';

export const WORKLOAD_CERT = 'default';
export const ROOT_CA = 'ROOTCA';

export interface WorkloadSecrets {
  /** The workload certificate and the intermediates above it (PEM), leaf first, no root. */
  chainPem: string;
  keyPem: string;
  /** The mesh root(s) peers are verified against (PEM). */
  rootPem: string;
}

/** The two SDS resources for `s`. */
export function sdsSecrets(s: WorkloadSecrets): Map<string, Secret> {
  return new Map<string, Secret>([
    [WORKLOAD_CERT, { name: WORKLOAD_CERT, tls_certificate: { certificate_chain: { inline_bytes: Buffer.from(s.chainPem) }, private_key: { inline_bytes: Buffer.from(s.keyPem) } } }],
    [ROOT_CA, { name: ROOT_CA, validation_context: { trusted_ca: { inline_bytes: Buffer.from(s.rootPem) } } }],
  ]);
}

export class SdsServer {
  private readonly provider = new StaticSnapshotProvider();
  private readonly xds: XdsServer;

  constructor(
    private readonly socketPath: string,
    log: Logger,
  ) {
    this.xds = new XdsServer({ provider: this.provider, controlPlaneId: 'trellis-agent', log });
  }

  /** Serves `secrets` on the socket (replacing a stale socket file of an earlier agent). */
  async start(secrets: WorkloadSecrets): Promise<void> {
    this.provider.set({ [TypeUrl.Secret]: sdsSecrets(secrets) });
    fs.mkdirSync(path.dirname(this.socketPath), { recursive: true });
    fs.rmSync(this.socketPath, { force: true });
    await this.xds.listen(`unix:${this.socketPath}`);
    // Only this pod's proxy (same user) may connect.
    fs.chmodSync(this.socketPath, 0o600);
  }

  /** Replaces the certificate (renewal) or the root; Envoy gets them on its open stream. */
  async update(secrets: WorkloadSecrets): Promise<void> {
    this.provider.set({ [TypeUrl.Secret]: sdsSecrets(secrets) });
    await this.xds.push({ reason: 'rotation', types: [TypeUrl.Secret] });
  }

  async close(): Promise<void> {
    await this.xds.close();
  }
}
