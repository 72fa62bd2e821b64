// Which mutual TLS a workload's sidecar accepts inbound, from the accepted PeerAuthentications,
// with Istio's precedence:
//   - three levels: mesh-wide (root namespace, no selector labels), namespace-wide (the workload's
//     namespace, no selector labels) and workload (the workload's namespace, selector labels all
//     on the workload); a narrower level overrides a wider one;
//   - a selector without labels counts as no selector; a policy with selector labels in the root
//     namespace applies to no workload (Istio ignores it);
//   - several policies at one level: the oldest wins (creationTimestamp, then name);
//   - mode UNSET (or no mtls) inherits from the level above; with nothing set, PERMISSIVE;
//   - portLevelMtls counts only in the workload-level policy; a port with UNSET takes the
//     workload's mode. Its keys are workload (container) ports, not Service ports.
// Pure: plain configs in, plain answers out.
import type { Labels } from '../api/common.js';
import type { MutualTlsMode, PeerAuthenticationMutualTls, PeerAuthenticationSpec } from '../api/peer-authentication.js';
import type { Config } from './config-store.js';
import { sortByAge } from './config-order.js';
import { labelsMatch } from './labels.js';

/** A mode as it takes effect: UNSET has been resolved. */
export type EffectiveMtlsMode = Exclude<MutualTlsMode, 'UNSET'>;

export interface EffectiveMtls {
  /** The mode on every workload port that `ports` does not name. */
  mode: EffectiveMtlsMode;
  /** Per workload (container) port, from the workload-level policy's portLevelMtls. */
  ports: ReadonlyMap<number, EffectiveMtlsMode>;
}

/** Istio's mode when no policy says otherwise. */
export const DEFAULT_MTLS_MODE: EffectiveMtlsMode = 'PERMISSIVE';

export type PeerAuthenticationConfig = Config<PeerAuthenticationSpec>;

/** The policy deciding each level for one workload (undefined where none applies). */
export interface ApplicablePeerAuthentications {
  mesh?: PeerAuthenticationConfig;
  namespace?: PeerAuthenticationConfig;
  workload?: PeerAuthenticationConfig;
}

const hasSelectorLabels = (c: PeerAuthenticationConfig): boolean => Object.keys(c.spec.selector?.matchLabels ?? {}).length > 0;

/** The mode a policy (or one of its ports) sets, or undefined when it inherits. */
function modeOf(mtls: PeerAuthenticationMutualTls | null | undefined): EffectiveMtlsMode | undefined {
  const mode = mtls?.mode;
  return mode && mode !== 'UNSET' ? mode : undefined;
}

export class PeerAuthentications {
  /** Per namespace, the oldest policy without selector labels (the root namespace's is mesh-wide). */
  private readonly wide = new Map<string, PeerAuthenticationConfig>();
  /** Per namespace other than the root, the policies with selector labels, oldest first. */
  private readonly selecting = new Map<string, PeerAuthenticationConfig[]>();

  constructor(
    configs: readonly PeerAuthenticationConfig[],
    readonly rootNamespace: string,
  ) {
    for (const c of sortByAge(configs)) {
      if (!hasSelectorLabels(c)) {
        if (!this.wide.has(c.namespace)) this.wide.set(c.namespace, c);
      } else if (c.namespace !== rootNamespace) {
        const list = this.selecting.get(c.namespace) ?? [];
        list.push(c);
        this.selecting.set(c.namespace, list);
      }
    }
  }

  /** The policies that decide the mTLS of a workload in `namespace` with `labels`. */
  applicable(namespace: string, labels: Labels): ApplicablePeerAuthentications {
    return {
      mesh: this.wide.get(this.rootNamespace),
      namespace: namespace === this.rootNamespace ? undefined : this.wide.get(namespace),
      workload: (this.selecting.get(namespace) ?? []).find((c) => labelsMatch(c.spec.selector?.matchLabels ?? {}, labels)),
    };
  }

  /** The mTLS a workload in `namespace` with `labels` accepts, per port. */
  effectiveMtls(namespace: string, labels: Labels): EffectiveMtls {
    const { mesh, namespace: ns, workload } = this.applicable(namespace, labels);
    let mode = DEFAULT_MTLS_MODE;
    for (const level of [mesh, ns, workload]) mode = modeOf(level?.spec.mtls) ?? mode;
    const ports = new Map<number, EffectiveMtlsMode>();
    for (const [port, mtls] of Object.entries(workload?.spec.portLevelMtls ?? {})) ports.set(Number(port), modeOf(mtls) ?? mode);
    return { mode, ports };
  }
}
