// xDS over TLS (Istio's 15012): the server presents a certificate the mesh CA issued for the
// control plane's DNS names, so a proxy verifies it against the published mesh root; client
// certificates are requested (not required) and verified against that root, so a proxy can
// authenticate with its workload certificate. A renewed certificate applies to new connections
// without restarting the gRPC server.
import * as grpc from '@grpc/grpc-js';

type IdentityCertificateUpdateListener = grpc.experimental.IdentityCertificateUpdateListener;
type CaCertificateUpdateListener = grpc.experimental.CaCertificateUpdateListener;

export interface KeyCertPem {
  cert: string;
  key: string;
}

/** A grpc-js certificate provider serving one identity, replaced by `update`. */
export class ServingIdentity implements grpc.experimental.CertificateProvider {
  private readonly listeners = new Set<IdentityCertificateUpdateListener>();
  private current: { certificate: Buffer; privateKey: Buffer };
  private readonly caListeners = new Set<CaCertificateUpdateListener>();

  constructor(
    pair: KeyCertPem,
    /** Roots that client certificates are verified against; none: clients are not asked for one. */
    private clientCa?: string,
  ) {
    this.current = toUpdate(pair);
  }

  /**
   * Verifies client certificates against `roots` from now on (new connections): after a root
   * change, the old and new roots both, so proxies holding either kind of certificate connect.
   */
  setClientCa(roots: string): void {
    if (this.clientCa === undefined) throw new Error('this identity does not ask clients for certificates');
    if (roots === this.clientCa) return;
    this.clientCa = roots;
    for (const l of this.caListeners) l({ caCertificate: Buffer.from(roots) });
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

  addCaCertificateListener(listener: CaCertificateUpdateListener): void {
    const ca = this.clientCa;
    if (ca === undefined) return;
    this.caListeners.add(listener);
    queueMicrotask(() => {
      if (this.caListeners.has(listener)) listener({ caCertificate: Buffer.from(ca) });
    });
  }

  removeCaCertificateListener(listener: CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
  }

  /** gRPC server credentials following this identity (a client certificate is optional). */
  credentials(): grpc.ServerCredentials {
    return grpc.experimental.createCertificateProviderServerCredentials(this, this.clientCa === undefined ? null : this, false);
  }
}

function toUpdate(pair: KeyCertPem): { certificate: Buffer; privateKey: Buffer } {
  return { certificate: Buffer.from(pair.cert), privateKey: Buffer.from(pair.key) };
}
