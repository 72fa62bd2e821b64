// Telemetry spec (telemetry.istio.io/v1, also served as v1alpha1): which workloads log their
// requests and connections, through which providers of the mesh configuration. Field names as in
// the YAML. Trellis translates accessLogging; metrics and tracing are accepted and validated with
// Istio's rules but configure nothing yet.
import type { WorkloadSelector } from './common.js';
import type { PolicyTargetReference } from './authorization-policy.js';

/** A provider of the mesh configuration's extensionProviders (or the built-in `envoy`), by name. */
export interface ProviderRef {
  name?: string;
}

/** Which side of the traffic an entry applies to: the workload as client (outbound, and gateways), as server (inbound), or both. */
export type WorkloadMode = 'CLIENT_AND_SERVER' | 'CLIENT' | 'SERVER';

export const WORKLOAD_MODES: readonly WorkloadMode[] = ['CLIENT_AND_SERVER', 'CLIENT', 'SERVER'];

export interface AccessLogging {
  /** Empty: the providers of the parent level (or the mesh's default providers). */
  providers?: ProviderRef[];
  /** Turns the providers' logging off at this level. */
  disabled?: boolean;
  /** A CEL expression: only the requests or connections for which it is true are logged. */
  filter?: { expression?: string };
  match?: { mode?: WorkloadMode };
}

export interface Metrics {
  providers?: ProviderRef[];
  overrides?: unknown[];
  reportingInterval?: string;
}

export interface Tracing {
  providers?: ProviderRef[];
  match?: { mode?: WorkloadMode };
  randomSamplingPercentage?: number;
  disableSpanReporting?: boolean;
  useRequestIdForTraceSampling?: boolean;
  customTags?: Record<string, unknown>;
}

export interface TelemetrySpec {
  /** Without labels: the whole namespace (the whole mesh in the root namespace). */
  selector?: WorkloadSelector;
  targetRef?: PolicyTargetReference;
  targetRefs?: PolicyTargetReference[];
  accessLogging?: AccessLogging[];
  metrics?: Metrics[];
  tracing?: Tracing[];
}
