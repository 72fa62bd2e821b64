// Istio's names for workload identity, shared by the control plane, the injector, the
// translation and the sidecar agent (so they cannot drift apart, and so existing Istio tooling
// finds what it looks for). No imports: the agent loads this too.

/** The audience of the projected token a workload presents to the CA and to xDS. */
export const CA_AUDIENCE = 'istio-ca';
/** The ConfigMap the mesh root is published in, in every namespace, and its key. */
export const ROOT_CERT_CONFIGMAP = 'istio-ca-root-cert';
export const ROOT_CERT_KEY = 'root-cert.pem';
/** The pod label marking a workload with a sidecar: clients' auto mTLS matches on it. */
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';
/** The bootstrap's static cluster to the agent's SDS socket. */
export const SDS_CLUSTER = 'sds-grpc';
/** The agent's SDS resources: the workload certificate and the mesh root. */
export const WORKLOAD_CERT = 'default';
export const ROOT_CA = 'ROOTCA';

export interface SpiffeIdentity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** spiffe://<trust domain>/ns/<namespace>/sa/<service account> */
export function spiffeId(id: SpiffeIdentity): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** The namespace and service account of a SPIFFE ID of `trustDomain`, else undefined. */
export function parseSpiffeId(uri: string, trustDomain: string): { namespace: string; serviceAccount: string } | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (!m || m[1] !== trustDomain) return undefined;
  return { namespace: m[2], serviceAccount: m[3] };
}
