// Sidecar spec (networking.istio.io/v1): what a sidecar proxy sees and accepts. `egress` narrows
// the services and VirtualServices its outbound configuration holds (the first scaling advice for
// Istio operators); `ingress` and `outboundTrafficPolicy` set its inbound ports and what happens
// to traffic for unknown hosts. Which Sidecar applies to a proxy, and what it imports:
// src/model/sidecars.ts.
import type { ConnectionPoolSettings } from './destination-rule.js';
import type { ServerTLSSettings } from './gateway.js';
import type { Labels } from './common.js';
import type { Destination } from './virtual-service.js';

export type CaptureMode = 'DEFAULT' | 'IPTABLES' | 'NONE';

export const CAPTURE_MODES: readonly CaptureMode[] = ['DEFAULT', 'IPTABLES', 'NONE'];

export type OutboundTrafficPolicyMode = 'REGISTRY_ONLY' | 'ALLOW_ANY';

export const OUTBOUND_TRAFFIC_POLICY_MODES: readonly OutboundTrafficPolicyMode[] = ['REGISTRY_ONLY', 'ALLOW_ANY'];

/** A listener port: a number (0 with a unix:// bind), a protocol and an optional name. */
export interface SidecarPort {
  number?: number;
  protocol?: string;
  name?: string;
  /** Deprecated in Istio: has no effect on a Sidecar. */
  targetPort?: number;
}

/** Sidecar's own selector shape: `labels`, not `matchLabels`. */
export interface SidecarWorkloadSelector {
  labels?: Labels;
}

export interface IstioIngressListener {
  port: SidecarPort;
  bind?: string;
  captureMode?: CaptureMode;
  /** `127.0.0.1:<port>`, `0.0.0.0:<port>`, `[::1]:<port>`, `[::]:<port>` or `unix:///path`. */
  defaultEndpoint?: string;
  tls?: ServerTLSSettings;
  connectionPool?: ConnectionPoolSettings;
}

export interface IstioEgressListener {
  /** Absent: the catch-all listener (at most one, the last). */
  port?: SidecarPort;
  bind?: string;
  captureMode?: CaptureMode;
  /** `<namespace>/<dnsName>`: namespace `*`, `.` (the proxy's), `~` (none) or a name; dnsName `*`, `*.suffix` or a host. */
  hosts: string[];
}

export interface OutboundTrafficPolicy {
  mode?: OutboundTrafficPolicyMode;
  egressProxy?: Destination;
}

export interface SidecarSpec {
  /** Absent: the namespace's default Sidecar (or the mesh's, in the root namespace). */
  workloadSelector?: SidecarWorkloadSelector;
  ingress?: IstioIngressListener[];
  egress?: IstioEgressListener[];
  inboundConnectionPool?: ConnectionPoolSettings;
  outboundTrafficPolicy?: OutboundTrafficPolicy;
}
