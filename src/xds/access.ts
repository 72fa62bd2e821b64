// Who may hold an xDS stream on a port, and what they may receive. The authenticated port
// (15012) binds every stream to the caller's workload identity: a node claiming another
// namespace, service account or pod is refused, and only an authenticated proxy is ever sent a
// Secret. The plaintext port (15010, off by default in the control plane) serves configuration
// without Secrets. How a caller is authenticated (TokenReview, the mesh CA) is the caller's
// business: this file only sees an Authenticator.
import * as grpc from '@grpc/grpc-js';
import { Counter } from 'prom-client';
import { registry } from '../util/metrics.js';
import type { ProxyInfo } from './proxy-info.js';

/** A workload identity, as proven by a token or a certificate. */
export interface WorkloadIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** The pod a bound token names (TokenReview's pod-name extra), when known. */
  readonly podName?: string;
  /** How it was proven, for logs: "token" or "certificate". */
  readonly via: string;
}

/** What a stream's caller presented: its call metadata and its verified TLS peer. */
export interface CallerCredentials {
  readonly metadata: grpc.Metadata;
  /** The peer's certificate, when TLS verified it against the mesh root. */
  readonly peerCertificate: Buffer | undefined;
}

/** Refusal with a gRPC status and a reason the caller is told. */
export class AccessDenied extends Error {
  constructor(
    readonly code: grpc.status.UNAUTHENTICATED | grpc.status.PERMISSION_DENIED | grpc.status.RESOURCE_EXHAUSTED,
    message: string,
    /** The trellis_xds_refused_total reason, when not the code's own. */
    readonly reason?: string,
  ) {
    super(message);
  }
}

export type Authenticator = (caller: CallerCredentials) => Promise<WorkloadIdentity>;

/**
 * A port's policy: `open` trusts every caller (tests, in-process tools); `plaintext` serves
 * configuration but never a Secret; `authenticated` requires an identity and binds to it.
 */
export type PortAccess = { kind: 'open' } | { kind: 'plaintext' } | { kind: 'authenticated'; authenticate: Authenticator };

export const OPEN_ACCESS: PortAccess = { kind: 'open' };

export const refusals = new Counter({
  name: 'trellis_xds_refused_total',
  help: 'xDS streams refused before any configuration was sent, by reason (unauthenticated, identity-mismatch, node-in-use).',
  labelNames: ['reason'] as const,
  registers: [registry],
});

function metadataString(info: ProxyInfo, key: string): string | undefined {
  const v = info.metadata[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * The node as the stream may use it: bound to `identity`. Throws AccessDenied when the node
 * claims to be another namespace, service account or pod than the identity proves.
 */
export function bindIdentity(info: ProxyInfo, identity: WorkloadIdentity): ProxyInfo {
  const who = `${identity.namespace}/${identity.serviceAccount}`;
  if (info.namespace !== identity.namespace) {
    throw new AccessDenied(grpc.status.PERMISSION_DENIED, `node ${info.id} claims namespace "${info.namespace ?? ''}" but authenticated as service account ${who}`);
  }
  // The node id is the registry's key: in Istio's form it names a pod and namespace itself,
  // which must be the ones the metadata (and so the identity) vouch for, or a stream could take
  // the id of another namespace's proxy while its metadata passed the check above.
  const fromId = idPodAndNamespace(info.id);
  if (fromId && (fromId.namespace !== identity.namespace || (info.podName !== undefined && fromId.pod !== info.podName))) {
    throw new AccessDenied(grpc.status.PERMISSION_DENIED, `node id ${info.id} names pod "${fromId.pod}" in namespace "${fromId.namespace}", not the node's own pod "${info.podName ?? ''}" in ${identity.namespace}`);
  }
  const sa = metadataString(info, 'SERVICE_ACCOUNT');
  if (sa !== undefined && sa !== identity.serviceAccount) {
    throw new AccessDenied(grpc.status.PERMISSION_DENIED, `node ${info.id} claims service account "${sa}" but authenticated as ${who}`);
  }
  if (identity.podName !== undefined && info.podName !== identity.podName) {
    throw new AccessDenied(grpc.status.PERMISSION_DENIED, `node ${info.id} claims pod "${info.podName ?? ''}" but its token is bound to pod ${identity.podName}`);
  }
  return { ...info, identity: { namespace: identity.namespace, serviceAccount: identity.serviceAccount } };
}

/** The `<pod>.<namespace>` part of an id in Istio's form `<type>~<ip>~<pod>.<namespace>~<domain>`. */
function idPodAndNamespace(id: string): { pod: string; namespace: string } | undefined {
  const parts = id.split('~');
  if (parts.length !== 4) return undefined;
  const dot = parts[2].lastIndexOf('.');
  return dot > 0 ? { pod: parts[2].slice(0, dot), namespace: parts[2].slice(dot + 1) } : { pod: parts[2], namespace: '' };
}

/** The peer certificate of a call, if TLS verified one (grpc-js only reports verified peers). */
export function verifiedPeer(call: { getAuthContext?: () => { sslPeerCertificate?: { raw?: Buffer } } | null }): Buffer | undefined {
  return call.getAuthContext?.()?.sslPeerCertificate?.raw;
}

/**
 * Applies a port's policy to a new stream's node: the node as the server may use it, or an
 * AccessDenied. On the plaintext port the node is marked unauthenticated (no Secrets).
 */
export async function admit(access: PortAccess, info: ProxyInfo, caller: CallerCredentials): Promise<ProxyInfo> {
  switch (access.kind) {
    case 'open':
      return { ...info, identity: info.identity ?? { namespace: info.namespace ?? '', serviceAccount: metadataString(info, 'SERVICE_ACCOUNT') ?? '' } };
    case 'plaintext':
      return { ...info, identity: undefined };
    case 'authenticated':
      return bindIdentity(info, await access.authenticate(caller));
  }
}
