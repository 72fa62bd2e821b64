// Istio's certificate service (istio.v1.auth.IstioCertificateService/CreateCertificate), served
// beside xDS on the TLS port: a workload presents its service account token (audience istio-ca)
// as `authorization: Bearer <token>` and a CSR for its own SPIFFE ID, and gets back the chain.
// Every refusal says why, is logged (never with the token) and is counted.
import * as grpc from '@grpc/grpc-js';
import { Counter, Histogram } from 'prom-client';
import type { Logger } from '../util/logger.js';
import { registry } from '../util/metrics.js';
import { CsrRejected, type MeshCa } from './authority.js';
import { certificateServiceDefinition, type CertificateRequest, type CertificateResponse } from './certificate-proto.js';
import { CA_AUDIENCE, CA_LATENCY_BUCKETS, Unauthenticated, type TokenAuthenticator, type TokenIdentity } from './token-review.js';

export type CaResult = 'signed' | 'unauthenticated' | 'denied' | 'invalid' | 'error';

export const caRequests = new Counter({
  name: 'trellis_ca_requests_total',
  help: 'Certificate signing requests to the mesh CA, by result (signed, unauthenticated, denied, invalid, error).',
  labelNames: ['result'] as const,
  registers: [registry],
});
for (const result of ['signed', 'unauthenticated', 'denied', 'invalid', 'error'] satisfies CaResult[]) caRequests.inc({ result }, 0);

export const caRequestSeconds = new Histogram({
  name: 'trellis_ca_request_duration_seconds',
  help: 'Time the mesh CA took to answer a certificate signing request (from the call to the answer; the TokenReview included), by result.',
  labelNames: ['result'] as const,
  buckets: CA_LATENCY_BUCKETS,
  registers: [registry],
});

export const DEFAULT_WORKLOAD_TTL_SECONDS = 24 * 3600;

export interface CertificateServiceDeps {
  ca: Pick<MeshCa, 'sign'>;
  tokens: Pick<TokenAuthenticator, 'authenticate'>;
  trustDomain: string;
  /** Lifetime when the request asks for none (validity_duration 0); default 24 h. */
  defaultTtlSeconds?: number;
  /** Longest lifetime granted; longer requests are shortened to it. Default 90 days. */
  maxTtlSeconds?: number;
  log: Logger;
}

/** A refusal: the gRPC status, the counted result and the reason the caller is told. */
export class CaRefusal extends Error {
  constructor(
    readonly code: grpc.status,
    readonly result: Exclude<CaResult, 'signed'>,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(reason, options);
    this.name = 'CaRefusal';
  }
}

/** The bearer token of the call's `authorization` metadata; throws a CaRefusal. */
export function bearerToken(metadata: grpc.Metadata): string {
  const values = metadata.get('authorization').map(String);
  if (values.length === 0) throw new CaRefusal(grpc.status.UNAUTHENTICATED, 'unauthenticated', 'no "authorization: Bearer <token>" metadata');
  if (values.length > 1) throw new CaRefusal(grpc.status.UNAUTHENTICATED, 'unauthenticated', 'more than one authorization metadata value');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(values[0]);
  if (!m) throw new CaRefusal(grpc.status.UNAUTHENTICATED, 'unauthenticated', 'the authorization metadata is not "Bearer <token>"');
  return m[1];
}

/**
 * One CreateCertificate: authenticate, check the lifetime, sign. Returns the chain (leaf first)
 * or throws a CaRefusal. `onIdentity` learns who the caller is once it is known (for logs).
 */
export async function createCertificate(deps: CertificateServiceDeps, req: CertificateRequest, metadata: grpc.Metadata, onIdentity?: (id: TokenIdentity) => void): Promise<string[]> {
  const token = bearerToken(metadata);
  let id: TokenIdentity;
  try {
    id = await deps.tokens.authenticate(token, [CA_AUDIENCE]);
  } catch (err) {
    if (err instanceof Unauthenticated) throw new CaRefusal(grpc.status.UNAUTHENTICATED, 'unauthenticated', err.reason);
    throw new CaRefusal(grpc.status.UNAVAILABLE, 'error', 'the token cannot be reviewed right now; retry', { cause: err });
  }
  onIdentity?.(id);
  if (req.metadataKeys?.includes('ImpersonatedIdentity')) throw new CaRefusal(grpc.status.PERMISSION_DENIED, 'denied', 'impersonation (ImpersonatedIdentity) is not supported: ask for your own identity');
  const requested = Number(req.validityDuration);
  if (!Number.isFinite(requested) || requested < 0) throw new CaRefusal(grpc.status.INVALID_ARGUMENT, 'invalid', `validity_duration must be zero or positive seconds, got ${req.validityDuration}`);
  const ttl = Math.min(requested === 0 ? (deps.defaultTtlSeconds ?? DEFAULT_WORKLOAD_TTL_SECONDS) : requested, deps.maxTtlSeconds ?? 90 * 86_400);
  try {
    return await deps.ca.sign(req.csr, { trustDomain: deps.trustDomain, namespace: id.namespace, serviceAccount: id.serviceAccount }, ttl);
  } catch (err) {
    if (err instanceof CsrRejected) {
      throw err.kind === 'identity' ? new CaRefusal(grpc.status.PERMISSION_DENIED, 'denied', err.reason) : new CaRefusal(grpc.status.INVALID_ARGUMENT, 'invalid', err.reason);
    }
    throw new CaRefusal(grpc.status.INTERNAL, 'error', 'signing failed', { cause: err });
  }
}

/** Adds IstioCertificateService to `server` (serve it on a TLS port only: tokens travel in it). */
export function addCertificateService(server: grpc.Server, deps: CertificateServiceDeps): void {
  server.addService(certificateServiceDefinition, {
    CreateCertificate: (call: grpc.ServerUnaryCall<CertificateRequest, CertificateResponse>, callback: grpc.sendUnaryData<CertificateResponse>) => {
      let who: TokenIdentity | undefined;
      const timer = caRequestSeconds.startTimer();
      createCertificate(deps, call.request, call.metadata, (id) => (who = id)).then(
        (certChain) => {
          caRequests.inc({ result: 'signed' });
          timer({ result: 'signed' });
          // At debug, as istiod logs a signed CSR: at info this line was 6 % of the CA's event loop
          // at 200 certificates/s (BENCHMARKS.md, ca-load); every signature is counted in any case.
          deps.log.debug('signed a workload certificate', { namespace: who?.namespace, serviceAccount: who?.serviceAccount, pod: who?.podName, peer: call.getPeer() });
          callback(null, { certChain });
        },
        (err: unknown) => {
          const refusal = err instanceof CaRefusal ? err : new CaRefusal(grpc.status.INTERNAL, 'error', 'internal error', { cause: err });
          caRequests.inc({ result: refusal.result });
          timer({ result: refusal.result });
          const cause = refusal.cause instanceof Error ? refusal.cause.message : undefined;
          const fields = { result: refusal.result, reason: refusal.reason, peer: call.getPeer(), namespace: who?.namespace, serviceAccount: who?.serviceAccount, pod: who?.podName, ...(cause ? { error: cause } : {}) };
          if (refusal.result === 'error') deps.log.error('certificate request failed', fields);
          else deps.log.warn('certificate request refused', fields);
          callback({ code: refusal.code, details: refusal.reason });
        },
      );
    },
  });
}
