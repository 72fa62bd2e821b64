// How an xDS stream on 15012 proves its workload identity: the workload certificate the mesh
// CA issued (TLS verified it against the mesh root; its SPIFFE URI names namespace and service
// account), or else its pod's projected token (audience istio-ca), checked by TokenReview. The
// certificate comes first: Envoy presents it on every reconnection, long after the token it
// started with has expired.
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { AccessDenied, type Authenticator, type CallerCredentials, type WorkloadIdentity } from '../xds/access.js';
import { CA_AUDIENCE, parseSpiffeId } from '../api/mesh-identity.js';
import { bearerToken, CaRefusal } from './certificate-service.js';
import { Unauthenticated, type TokenAuthenticator } from './token-review.js';

/** The SPIFFE identity of a verified certificate (its single URI SAN), else undefined. */
export function certificateIdentity(der: Buffer, trustDomain: string): { namespace: string; serviceAccount: string } | undefined {
  let san: string | undefined;
  try {
    san = new X509Certificate(der).subjectAltName;
  } catch {
    return undefined;
  }
  const uris = (san ?? '')
    .split(/,\s*/)
    .filter((x) => x.startsWith('URI:'))
    .map((x) => x.slice(4));
  return uris.length === 1 ? parseSpiffeId(uris[0], trustDomain) : undefined;
}

export function xdsAuthenticator(tokens: Pick<TokenAuthenticator, 'authenticate'>, trustDomain: string): Authenticator {
  return async (caller: CallerCredentials): Promise<WorkloadIdentity> => {
    const fromCert = caller.peerCertificate ? certificateIdentity(caller.peerCertificate, trustDomain) : undefined;
    if (fromCert) return { ...fromCert, via: 'certificate' };
    let token: string;
    try {
      token = bearerToken(caller.metadata);
    } catch (err) {
      const why = err instanceof CaRefusal ? err.reason : String(err);
      throw new AccessDenied(grpc.status.UNAUTHENTICATED, `authenticate with a workload certificate of the mesh or a service account token (audience istio-ca): ${why}`);
    }
    try {
      const id = await tokens.authenticate(token, [CA_AUDIENCE]);
      return { namespace: id.namespace, serviceAccount: id.serviceAccount, podName: id.podName, via: 'token' };
    } catch (err) {
      if (err instanceof Unauthenticated) throw new AccessDenied(grpc.status.UNAUTHENTICATED, err.message);
      throw err;
    }
  };
}
