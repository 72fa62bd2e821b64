// PeerAuthentication spec (security.istio.io/v1): which mutual TLS a workload's sidecar accepts
// on inbound connections. Where a policy applies and how levels combine: src/model/peer-authentication.ts.
import type { WorkloadSelector } from './common.js';

/** UNSET inherits from the parent level (port → workload → namespace → mesh → PERMISSIVE). */
export type MutualTlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

export const MUTUAL_TLS_MODES: readonly MutualTlsMode[] = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'];

export interface PeerAuthenticationMutualTls {
  mode?: MutualTlsMode;
}

export interface PeerAuthenticationSpec {
  /** Absent (or without labels): the policy is namespace-wide, or mesh-wide in the root namespace. */
  selector?: WorkloadSelector;
  mtls?: PeerAuthenticationMutualTls;
  /**
   * Per workload port (the container port, not a Service port), keyed by the port number as a
   * string (YAML and JSON map keys). Only in a policy with a selector.
   */
  portLevelMtls?: Record<string, PeerAuthenticationMutualTls>;
}
