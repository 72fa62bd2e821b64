// The spec type of each kind Trellis serves: what validate() hands back for an accepted object, and
// what the config store and the model hold.
import type { AuthorizationPolicySpec } from './authorization-policy.js';
import type { ConfigKind } from './common.js';
import type { DestinationRuleSpec } from './destination-rule.js';
import type { GatewaySpec } from './gateway.js';
import type { PeerAuthenticationSpec } from './peer-authentication.js';
import type { RequestAuthenticationSpec } from './request-authentication.js';
import type { ServiceEntrySpec } from './service-entry.js';
import type { VirtualServiceSpec } from './virtual-service.js';

export interface ConfigSpecs {
  VirtualService: VirtualServiceSpec;
  DestinationRule: DestinationRuleSpec;
  Gateway: GatewaySpec;
  ServiceEntry: ServiceEntrySpec;
  PeerAuthentication: PeerAuthenticationSpec;
  AuthorizationPolicy: AuthorizationPolicySpec;
  RequestAuthentication: RequestAuthenticationSpec;
}

export type SpecOf<K extends ConfigKind> = ConfigSpecs[K];
