// AuthorizationPolicy spec (security.istio.io/v1): who may call a workload, and how.
// Which workloads a policy applies to: src/model/authorization-policies.ts; how it becomes
// Envoy's RBAC and ext_authz filters: src/translate/authz*.ts.
import type { WorkloadSelector } from './common.js';

export type AuthorizationAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

export const AUTHORIZATION_ACTIONS: readonly AuthorizationAction[] = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'];

/** A reference to the resource a policy attaches to (a gateway's Service, a Gateway API Gateway). */
export interface PolicyTargetReference {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

export interface Source {
  principals?: string[];
  notPrincipals?: string[];
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  ipBlocks?: string[];
  notIpBlocks?: string[];
  remoteIpBlocks?: string[];
  notRemoteIpBlocks?: string[];
  /** Istio 1.24+: the peer's SPIFFE trust domain. */
  trustDomains?: string[];
  notTrustDomains?: string[];
  /** Istio 1.24+ shorthand for principals `<td>/ns/<ns>/sa/<sa>` (entries `ns/sa`). */
  serviceAccounts?: string[];
  notServiceAccounts?: string[];
}

export interface Operation {
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}

export interface RuleFrom {
  source?: Source;
}

export interface RuleTo {
  operation?: Operation;
}

export interface Condition {
  key?: string;
  values?: string[];
  notValues?: string[];
}

export interface Rule {
  from?: RuleFrom[];
  to?: RuleTo[];
  when?: Condition[];
}

export interface ExtensionProvider {
  name?: string;
}

export interface AuthorizationPolicySpec {
  selector?: WorkloadSelector;
  targetRef?: PolicyTargetReference;
  targetRefs?: PolicyTargetReference[];
  rules?: Rule[];
  action?: AuthorizationAction;
  /** CUSTOM only: the mesh configuration's extensionProviders entry that decides. */
  provider?: ExtensionProvider;
}
