// Types shared by the networking.istio.io, security.istio.io and telemetry.istio.io kinds (field names as in the
// YAML, camelCase).
// Durations are strings in Istio's format ("1s", "0.5s", "100ms", "1h", "1m").

/** Labels: key/value pairs. */
export type Labels = Record<string, string>;

/** Exactly one of exact, prefix or regex (RE2 syntax); an empty match tests presence (headers). */
export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

/** A port on the destination host. */
export interface PortSelector {
  number?: number;
}

/** A percentage, 0.0 to 100.0. */
export interface Percent {
  value?: number;
}

/** Selects workloads by label (DestinationRule's shape). */
export interface WorkloadSelector {
  matchLabels?: Labels;
}

/** A port of a Gateway server or a ServiceEntry. */
export interface Port {
  number: number;
  protocol?: string;
  name: string;
  targetPort?: number;
}

/** The networking.istio.io kinds Trellis serves. */
export type NetworkingKind = 'VirtualService' | 'DestinationRule' | 'Gateway' | 'ServiceEntry' | 'Sidecar';

export const NETWORKING_KINDS: readonly NetworkingKind[] = [
  'VirtualService',
  'DestinationRule',
  'Gateway',
  'ServiceEntry',
  'Sidecar',
];

export const NETWORKING_GROUP = 'networking.istio.io';

/** The served versions; v1 is the storage version. */
export const NETWORKING_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'] as const;

/** The security.istio.io kinds Trellis serves. */
export type SecurityKind = 'PeerAuthentication' | 'AuthorizationPolicy' | 'RequestAuthentication';

export const SECURITY_KINDS: readonly SecurityKind[] = ['PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication'];

export const SECURITY_GROUP = 'security.istio.io';

/** The served versions; v1 is the storage version. */
export const SECURITY_VERSIONS = ['v1', 'v1beta1'] as const;

/** The telemetry.istio.io kind Trellis serves (access logs). */
export type TelemetryKind = 'Telemetry';

export const TELEMETRY_GROUP = 'telemetry.istio.io';

/** The served versions; v1 is the storage version. */
export const TELEMETRY_VERSIONS = ['v1', 'v1alpha1'] as const;

/** Every kind Trellis reconciles, validates and keeps in its model. */
export type ConfigKind = NetworkingKind | SecurityKind | TelemetryKind;

export const CONFIG_KINDS: readonly ConfigKind[] = [...NETWORKING_KINDS, ...SECURITY_KINDS, 'Telemetry'];

/** The API group of each kind. */
export const GROUP_OF: Readonly<Record<ConfigKind, string>> = {
  VirtualService: NETWORKING_GROUP,
  DestinationRule: NETWORKING_GROUP,
  Gateway: NETWORKING_GROUP,
  ServiceEntry: NETWORKING_GROUP,
  Sidecar: NETWORKING_GROUP,
  PeerAuthentication: SECURITY_GROUP,
  AuthorizationPolicy: SECURITY_GROUP,
  RequestAuthentication: SECURITY_GROUP,
  Telemetry: TELEMETRY_GROUP,
};

export function isConfigKind(kind: unknown): kind is ConfigKind {
  return typeof kind === 'string' && Object.prototype.hasOwnProperty.call(GROUP_OF, kind);
}
