// Validation of networking.istio.io, security.istio.io and telemetry.istio.io objects with Istio's rules. Pure: the
// admission webhook, the controllers (which revalidate, as the webhook can be bypassed) and
// trellisctl all call this.
import { GROUP_OF, isConfigKind, type ConfigKind, type NetworkingKind } from './common.js';
import type { AuthorizationPolicySpec } from './authorization-policy.js';
import type { DestinationRuleSpec } from './destination-rule.js';
import type { GatewaySpec } from './gateway.js';
import type { PeerAuthenticationSpec } from './peer-authentication.js';
import type { RequestAuthenticationSpec } from './request-authentication.js';
import type { ServiceEntrySpec } from './service-entry.js';
import type { SidecarSpec } from './sidecar.js';
import type { TelemetrySpec } from './telemetry.js';
import type { VirtualServiceSpec } from './virtual-service.js';
import { CRD_SPEC_SCHEMAS } from './crd-schemas.generated.js';
import type { SpecOf } from './types.js';
import { validateAuthorizationPolicy } from './validate-authorization-policy.js';
import { validateDestinationRule } from './validate-destination-rule.js';
import { formatErrors, type ValidationError } from './validate-errors.js';
import { validateGateway } from './validate-gateway.js';
import { validateMetadata } from './validate-metadata.js';
import { validatePeerAuthentication } from './validate-peer-authentication.js';
import { validateRequestAuthentication } from './validate-request-authentication.js';
import { checkSchemaTypes } from './validate-schema.js';
import { validateServiceEntry } from './validate-service-entry.js';
import { sidecarWarnings, validateSidecar } from './validate-sidecar.js';
import { telemetryWarnings, validateTelemetry } from './validate-telemetry.js';
import { validateVirtualService } from './validate-virtual-service.js';
import { destinationRuleWarnings, serviceEntryWarnings, virtualServiceWarnings } from './validate-warnings.js';

export { isConfigKind } from './common.js';
export { formatError, formatErrors, type ValidationError } from './validate-errors.js';
export { validateAuthorizationPolicy } from './validate-authorization-policy.js';
export { validateDestinationRule } from './validate-destination-rule.js';
export { validateGateway } from './validate-gateway.js';
export { ALWAYS_REJECT_ANNOTATION, DRY_RUN_ANNOTATION, validateMetadata } from './validate-metadata.js';
export { validatePeerAuthentication } from './validate-peer-authentication.js';
export { validateRequestAuthentication } from './validate-request-authentication.js';
export { validateServiceEntry } from './validate-service-entry.js';
export { validateSidecar } from './validate-sidecar.js';
export { validateTelemetry } from './validate-telemetry.js';
export { validateVirtualService } from './validate-virtual-service.js';

export function isNetworkingKind(kind: unknown): kind is NetworkingKind {
  return kind === 'VirtualService' || kind === 'DestinationRule' || kind === 'Gateway' || kind === 'ServiceEntry' || kind === 'Sidecar';
}

/** An accepted spec, typed for its kind, with Istio's warnings; or what is wrong with it. */
export type Validation<K extends ConfigKind> = { ok: true; spec: SpecOf<K>; warnings: ValidationError[] } | { ok: false; errors: ValidationError[] };

/**
 * Validates one object's spec (and the annotations Istio reserves) and gives it back typed: the
 * one place an outside value becomes a spec the rest of Trellis may trust. An absent spec is `{}`.
 */
export function validate<K extends ConfigKind>(kind: K, namespace: string, name: string, spec: unknown, annotations?: Readonly<Record<string, string>>): Validation<K> {
  const value = spec ?? {};
  const errors = validationErrors(kind, namespace, name, value, annotations);
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, spec: value as SpecOf<K>, warnings: validationWarnings(kind, value, namespace) };
}

/**
 * The errors of one object's spec, and the annotations Istio reserves when given. `spec` may be
 * anything (it comes from outside): a malformed value yields errors, never an exception. The
 * namespace matters to some rules (a DestinationRule's exportTo with a workloadSelector); the name
 * is accepted so every caller uses the same entry. The messages are rendered with
 * formatErrors(kind, namespace, name, errors).
 */
export function validationErrors(kind: string, namespace: string, _name: string, spec: unknown, annotations?: Readonly<Record<string, string>>): ValidationError[] {
  if (!isConfigKind(kind)) return [{ path: 'kind', message: `unsupported kind ${JSON.stringify(kind)}` }];
  const metadata = validateMetadata(kind, annotations);
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    return [...metadata, { path: 'spec', message: 'required, and must be an object' }];
  }
  return [...metadata, ...mergeErrors(checkSchemaTypes(CRD_SPEC_SCHEMAS[kind], spec, 'spec'), validateSpec(kind, spec, namespace, annotations))];
}

interface Crash {
  crash: string;
}

/**
 * The CRD schema's errors (what the API server would reject) and Istio's rules, each problem once.
 * Where both flag the same field, Istio's message stays, as it is the more specific one. Below a
 * value of the wrong type, Istio's rules have misread it (a string taken as an empty list), so what
 * they say there goes; so does a crash of the rules when the schema has explained it.
 */
function mergeErrors(schema: ReturnType<typeof checkSchemaTypes>, rules: ValidationError[] | Crash): ValidationError[] {
  if (!Array.isArray(rules)) return schema.errors.length > 0 ? schema.errors : [{ path: 'spec', message: `malformed: ${rules.crash}` }];
  const mistyped = [...schema.typeErrors].map((e) => e.path);
  const below = (path: string, root: string): boolean => path.startsWith(`${root}.`) || path.startsWith(`${root}[`);
  const kept = rules.filter((e) => !mistyped.some((root) => below(e.path, root)));
  const flagged = new Set(kept.map((e) => e.path));
  return [...schema.errors.filter((e) => !flagged.has(e.path)), ...kept];
}

function validateSpec(kind: ConfigKind, spec: object, namespace: string, annotations: Readonly<Record<string, string>> | undefined): ValidationError[] | Crash {
  try {
    switch (kind) {
      case 'VirtualService':
        return validateVirtualService(spec as VirtualServiceSpec, namespace);
      case 'DestinationRule':
        // exportTo with a workloadSelector is checked against the rule's own namespace.
        return validateDestinationRule(spec as DestinationRuleSpec, namespace);
      case 'Gateway':
        return validateGateway(spec as GatewaySpec);
      case 'ServiceEntry':
        return validateServiceEntry(spec as ServiceEntrySpec);
      case 'Sidecar':
        return validateSidecar(spec as SidecarSpec);
      case 'PeerAuthentication':
        return validatePeerAuthentication(spec as PeerAuthenticationSpec);
      case 'AuthorizationPolicy':
        return validateAuthorizationPolicy(spec as AuthorizationPolicySpec, annotations);
      case 'RequestAuthentication':
        return validateRequestAuthentication(spec as RequestAuthenticationSpec);
      case 'Telemetry':
        return validateTelemetry(spec as TelemetrySpec);
    }
  } catch (err) {
    // Only a spec that bypassed the CRD schema (wrong types) can get here.
    return { crash: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * What Istio accepts but warns about in a valid spec (validate-warnings.ts); nothing for an
 * invalid one, whose errors come first.
 */
export function validationWarnings(kind: string, spec: unknown, namespace = ''): ValidationError[] {
  const warn = WARNINGS[kind as ConfigKind];
  if (!warn || spec === null || typeof spec !== 'object' || Array.isArray(spec)) return [];
  try {
    return warn(spec, namespace);
  } catch {
    return []; // a spec the rules cannot read is an invalid one, reported by validate()
  }
}

/** The kinds Istio warns about (the others never warn). */
const WARNINGS: Partial<Record<ConfigKind, (spec: object, namespace: string) => ValidationError[]>> = {
  VirtualService: (spec) => virtualServiceWarnings(spec as VirtualServiceSpec),
  DestinationRule: (spec) => destinationRuleWarnings(spec as DestinationRuleSpec),
  ServiceEntry: (spec) => serviceEntryWarnings(spec as ServiceEntrySpec),
  Sidecar: (spec, namespace) => sidecarWarnings(spec as SidecarSpec, namespace),
  Telemetry: (spec) => telemetryWarnings(spec as TelemetrySpec),
};

export interface ManifestValidation {
  kind: ConfigKind;
  namespace: string;
  name: string;
  errors: ValidationError[];
  /** The errors rendered as `<Kind> <namespace>/<name>: <path>: <rule>`. */
  messages: string[];
  /** Istio's warnings on a valid object, rendered the same way. */
  warnings: string[];
}

/**
 * Validates a whole manifest ({apiVersion, kind, metadata, spec}). Returns undefined for objects
 * that are not one of the kinds Trellis serves (networking.istio.io VirtualService,
 * DestinationRule, Gateway, ServiceEntry; security.istio.io PeerAuthentication, AuthorizationPolicy,
 * RequestAuthentication; telemetry.istio.io Telemetry).
 */
export function validateManifest(manifest: unknown, defaultNamespace = 'default'): ManifestValidation | undefined {
  if (manifest === null || typeof manifest !== 'object') return undefined;
  const obj = manifest as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown; annotations?: Record<string, string> }; spec?: unknown };
  if (!isConfigKind(obj.kind)) return undefined;
  if (typeof obj.apiVersion !== 'string' || !obj.apiVersion.startsWith(`${GROUP_OF[obj.kind]}/`)) return undefined;
  const namespace = typeof obj.metadata?.namespace === 'string' && obj.metadata.namespace ? obj.metadata.namespace : defaultNamespace;
  const name = typeof obj.metadata?.name === 'string' ? obj.metadata.name : '';
  const v = validate(obj.kind, namespace, name, obj.spec, obj.metadata?.annotations);
  const errors = v.ok ? [] : v.errors;
  return { kind: obj.kind, namespace, name, errors, messages: formatErrors(obj.kind, namespace, name, errors), warnings: v.ok ? formatErrors(obj.kind, namespace, name, v.warnings) : [] };
}
