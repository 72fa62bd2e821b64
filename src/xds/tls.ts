// xDS over TLS (Istio's 15012): the server's identity is the serving certificate Trellis keeps
// for its webhooks (a Secret shared by the replicas, renewed before it expires), so a proxy
// verifies the control plane with the same CA the webhook configurations carry. A renewed
// certificate applies to new connections without restarting the gRPC server.
import * as grpc from '@grpc/grpc-js';

type IdentityCertificateUpdateListener = grpc.experimental.IdentityCertificateUpdateListener;

export interface KeyCertPem {
  cert: string;
  key: string;
}

/** A grpc-js certificate provider serving one identity, replaced by `update`. */
export class ServingIdentity implements grpc.experimental.CertificateProvider {
  private readonly listeners = new Set<IdentityCertificateUpdateListener>();
  private current: { certificate: Buffer; privateKey: Buffer };

  constructor(pair: KeyCertPem) {
    this.current = toUpdate(pair);
  }

  /** Serves `pair` from now on (new connections); unchanged content is ignored. */
  update(pair: KeyCertPem): void {
    const next = toUpdate(pair);
    if (next.certificate.equals(this.current.certificate) && next.privateKey.equals(this.current.privateKey)) return;
    this.current = next;
    for (const l of this.listeners) l(next);
  }

  addIdentityCertificateListener(listener: IdentityCertificateUpdateListener): void {
    this.listeners.add(listener);
    // Not synchronously: grpc-js registers its own watcher only after adding this listener,
    // and would miss an update delivered from inside this call (then refuse every connection).
    queueMicrotask(() => {
      if (this.listeners.has(listener)) listener(this.current);
    });
  }

  removeIdentityCertificateListener(listener: IdentityCertificateUpdateListener): void {
    this.listeners.delete(listener);
  }

  // Server-authenticated TLS only: no client CA, so no CA certificates to provide.
  addCaCertificateListener(): void {}
  removeCaCertificateListener(): void {}

  /** gRPC server credentials following this identity. */
  credentials(): grpc.ServerCredentials {
    return grpc.experimental.createCertificateProviderServerCredentials(this, null, false);
  }
}

function toUpdate(pair: KeyCertPem): { certificate: Buffer; privateKey: Buffer } {
  return { certificate: Buffer.from(pair.cert), privateKey: Buffer.from(pair.key) };
}
