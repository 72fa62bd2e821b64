// The workload side of the certificate service, for the sidecar agent: send a CSR with the pod's
// token over TLS (the server verified against the mesh root) and get the chain back. Kept light:
// grpc-js, protobufjs and node built-ins only (no Kubernetes client, no xDS code).
import * as grpc from '@grpc/grpc-js';
import { CREATE_CERTIFICATE_PATH, decodeResponse, encodeRequest, type CertificateRequest, type CertificateResponse } from './certificate-proto.js';
import { NO_CHANNELZ } from '../util/grpc-options.js';
import { splitPem } from './pem.js';

export { createCsr, spiffeId, type WorkloadCsr } from './csr.js';

export interface CertificateRequestOptions {
  /** host:port of the CA (the control plane's 15012). */
  address: string;
  /** The mesh root(s) the server's certificate must chain to (the istio-ca-root-cert ConfigMap). */
  rootCaPem: string;
  /** The name the server's certificate must carry, e.g. trellis.trellis-system.svc. */
  serverName: string;
  /** The pod's service account token for audience istio-ca. */
  token: string;
  csrPem: string;
  /** Lifetime asked for; 0 (default) lets the CA choose. */
  ttlSeconds?: number;
  /** Deadline of the call (default 30 s). */
  timeoutMs?: number;
}

/**
 * The signed chain (PEM per certificate, leaf first, root last). Rejects with the gRPC error
 * (its `code` and `details` say why: UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT...).
 */
export function requestCertificate(o: CertificateRequestOptions): Promise<string[]> {
  const credentials = grpc.credentials.createSsl(Buffer.from(o.rootCaPem));
  const client = new grpc.Client(o.address, credentials, { ...NO_CHANNELZ, 'grpc.ssl_target_name_override': o.serverName, 'grpc.default_authority': o.serverName });
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${o.token}`);
  const request: CertificateRequest = { csr: o.csrPem, validityDuration: Math.max(0, Math.floor(o.ttlSeconds ?? 0)) };
  return new Promise<string[]>((resolve, reject) => {
    client.makeUnaryRequest<CertificateRequest, CertificateResponse>(
      CREATE_CERTIFICATE_PATH,
      encodeRequest,
      decodeResponse,
      request,
      metadata,
      { deadline: Date.now() + (o.timeoutMs ?? 30_000) },
      (err, res) => {
        client.close();
        if (err) return reject(err);
        const chain = (res?.certChain ?? []).flatMap((c) => splitPem(c));
        if (chain.length === 0) return reject(new Error('the CA answered without a certificate'));
        resolve(chain);
      },
    );
  });
}
