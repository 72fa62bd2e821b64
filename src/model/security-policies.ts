// Which AuthorizationPolicies and RequestAuthentications apply to a workload, as Istio selects
// them: policies of the workload's own namespace and of the root namespace (mesh-wide); a policy
// without selector labels applies to every workload there, one with labels to the workloads
// carrying them all. A policy with `targetRefs` attaches only to what it names, never through its
// selector: Istio honours a Gateway API Gateway (group gateway.networking.k8s.io, the pods labelled
// gateway.networking.k8s.io/gateway-name) in the policy's namespace; a Service target is for
// waypoint proxies, which Trellis does not run, so such a policy applies to no sidecar or gateway.
// Pure: plain configs in, policies oldest first out (a deterministic order for the filters).
import type { Labels } from '../api/common.js';
import type { PolicyTargetReference } from '../api/authorization-policy.js';
import type { Config } from './config-store.js';
import { byNamespaceOldestFirst, sortByAge } from './config-order.js';
import { labelsMatch } from './labels.js';

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
/** The label the Gateway API puts on a Gateway's pods. */
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

interface Targeted {
  selector?: { matchLabels?: Labels };
  targetRef?: PolicyTargetReference;
  targetRefs?: PolicyTargetReference[];
}

export function targetsOf(spec: Targeted): PolicyTargetReference[] {
  return [...(spec.targetRef ? [spec.targetRef] : []), ...(spec.targetRefs ?? [])];
}

/** Whether a target reference names the Gateway API Gateway a workload belongs to. */
export function targetsWorkload(ref: PolicyTargetReference, policyNamespace: string, namespace: string, labels: Labels): boolean {
  if (ref.group !== GATEWAY_API_GROUP || ref.kind !== 'Gateway') return false;
  if ((ref.namespace ?? policyNamespace) !== namespace || policyNamespace !== namespace) return false;
  return ref.name !== undefined && labels[GATEWAY_NAME_LABEL] === ref.name;
}

export class WorkloadPolicies<S extends Targeted> {
  private readonly byNamespace: Map<string, Config<S>[]>;

  constructor(
    configs: readonly Config<S>[],
    readonly rootNamespace: string,
  ) {
    this.byNamespace = byNamespaceOldestFirst(configs);
  }

  /** The policies that apply to a workload in `namespace` with `labels`, oldest first. */
  forWorkload(namespace: string, labels: Labels): Config<S>[] {
    const namespaces = namespace === this.rootNamespace ? [namespace] : [this.rootNamespace, namespace];
    const out: Config<S>[] = [];
    for (const ns of namespaces) {
      for (const c of this.byNamespace.get(ns) ?? []) {
        const targets = targetsOf(c.spec);
        const applies =
          targets.length > 0 ? targets.some((t) => targetsWorkload(t, c.namespace, namespace, labels)) : labelsMatch(c.spec.selector?.matchLabels ?? {}, labels);
        if (applies) out.push(c);
      }
    }
    return sortByAge(out);
  }
}
