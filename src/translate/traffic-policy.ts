// The DestinationRule traffic policy that applies to one cluster (a service port, maybe a
// subset), as Istio merges it: the top-level policy, overridden field by field by the
// portLevelSettings entry of that port; a subset's own policy (and its port-level settings) then
// overrides that again.
import type { DestinationRuleSpec, PortTrafficPolicyFields, TrafficPolicy } from '../api/destination-rule.js';

export type ClusterPolicy = PortTrafficPolicyFields;

function forPort(policy: TrafficPolicy | undefined, port: number): ClusterPolicy {
  if (!policy) return {};
  const { loadBalancer, connectionPool, outlierDetection, tls } = policy;
  const base: ClusterPolicy = { loadBalancer, connectionPool, outlierDetection, tls };
  const pl = (policy.portLevelSettings ?? []).find((p) => p.port?.number === port);
  return pl ? overlay(base, pl) : base;
}

function overlay(base: ClusterPolicy, over: ClusterPolicy): ClusterPolicy {
  return {
    loadBalancer: over.loadBalancer ?? base.loadBalancer,
    connectionPool: over.connectionPool ?? base.connectionPool,
    outlierDetection: over.outlierDetection ?? base.outlierDetection,
    tls: over.tls ?? base.tls,
  };
}

/** The policy of the cluster for `port` (and `subset`, if any) under DestinationRule `spec`. */
export function clusterPolicy(spec: DestinationRuleSpec | undefined, port: number, subset?: string): ClusterPolicy {
  const base = forPort(spec?.trafficPolicy, port);
  if (!subset) return base;
  const s = (spec?.subsets ?? []).find((x) => x.name === subset);
  return s?.trafficPolicy ? overlay(base, forPort(s.trafficPolicy, port)) : base;
}
