// The typed model of the networking.istio.io API: one import for the four specs.
import type { NetworkingKind } from './common.js';
import type { DestinationRuleSpec } from './destination-rule.js';
import type { GatewaySpec } from './gateway.js';
import type { ServiceEntrySpec } from './service-entry.js';
import type { VirtualServiceSpec } from './virtual-service.js';

export type * from './common.js';
export type * from './destination-rule.js';
export type * from './gateway.js';
export type * from './service-entry.js';
export type * from './virtual-service.js';
export { NETWORKING_GROUP, NETWORKING_KINDS, NETWORKING_VERSIONS } from './common.js';

/** The spec type of each kind. */
export interface SpecByKind {
  VirtualService: VirtualServiceSpec;
  DestinationRule: DestinationRuleSpec;
  Gateway: GatewaySpec;
  ServiceEntry: ServiceEntrySpec;
}

/** A networking.istio.io object as stored by the API server. */
export interface IstioObject<K extends NetworkingKind = NetworkingKind> {
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
