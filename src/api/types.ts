// The typed model of the networking.istio.io, security.istio.io and telemetry.istio.io APIs: one import for the specs.
import type { ConfigKind } from './common.js';
import type { DestinationRuleSpec } from './destination-rule.js';
import type { GatewaySpec } from './gateway.js';
import type { AuthorizationPolicySpec } from './authorization-policy.js';
import type { PeerAuthenticationSpec } from './peer-authentication.js';
import type { RequestAuthenticationSpec } from './request-authentication.js';
import type { ServiceEntrySpec } from './service-entry.js';
import type { SidecarSpec } from './sidecar.js';
import type { TelemetrySpec } from './telemetry.js';
import type { VirtualServiceSpec } from './virtual-service.js';

export type * from './common.js';
export type * from './destination-rule.js';
export type * from './gateway.js';
export type * from './authorization-policy.js';
export type * from './peer-authentication.js';
export type * from './request-authentication.js';
export type * from './service-entry.js';
export type * from './sidecar.js';
export type * from './telemetry.js';
export type * from './virtual-service.js';
export { CONFIG_KINDS, GROUP_OF, NETWORKING_GROUP, NETWORKING_KINDS, NETWORKING_VERSIONS, SECURITY_GROUP, SECURITY_KINDS, SECURITY_VERSIONS, TELEMETRY_GROUP, TELEMETRY_VERSIONS } from './common.js';

/** The spec type of each kind: what validate() hands back for an accepted object. */
export interface SpecByKind {
  VirtualService: VirtualServiceSpec;
  DestinationRule: DestinationRuleSpec;
  Gateway: GatewaySpec;
  ServiceEntry: ServiceEntrySpec;
  Sidecar: SidecarSpec;
  PeerAuthentication: PeerAuthenticationSpec;
  AuthorizationPolicy: AuthorizationPolicySpec;
  RequestAuthentication: RequestAuthenticationSpec;
  Telemetry: TelemetrySpec;
}

export type SpecOf<K extends ConfigKind> = SpecByKind[K];

/** A networking.istio.io or security.istio.io object as stored by the API server. */
export interface IstioObject<K extends ConfigKind = ConfigKind> {
  apiVersion: string;
  kind: K;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: SpecByKind[K];
  status?: Record<string, unknown>;
}
