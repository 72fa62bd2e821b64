// Rules shared by the security.istio.io validators (AuthorizationPolicy, RequestAuthentication):
// which of selector / targetRef / targetRefs, what a targetRef may point at, and the value checks
// of Istio's pkg/config/security (IP blocks, ports, service accounts, wildcard values, trust
// domains). Each `...Problem` returns the broken rule as a message, or undefined.
import { isIP } from 'node:net';
import type { WorkloadSelector } from './common.js';
import { ErrorList, isSet } from './validate-errors.js';
import { validateSelector } from './validate-peer-authentication.js';

export const isMap = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** What a JSON value is, for messages: `null`, `a list`, `a number`... */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `${typeof value === 'string' ? 'a string' : `a ${typeof value}`} (${JSON.stringify(value)})`;
}

/**
 * The elements of a list field with their paths, or none when the field is absent; reports a field
 * that is not a list, and more than `maxItems` elements (a CRD limit).
 */
export function listAt(e: ErrorList, path: string, value: unknown, what: string, maxItems?: number): [string, unknown][] {
  if (!isSet(value)) return [];
  if (!Array.isArray(value)) {
    e.add(path, `must be a list of ${what}, got ${kindOf(value)}`);
    return [];
  }
  if (maxItems !== undefined && value.length > maxItems) e.add(path, `at most ${maxItems} ${what}, got ${value.length}`);
  return value.map((item, i) => [`${path}[${i}]`, item]);
}

/**
 * A list of strings: reports a non-list, non-string elements, empty strings (unless allowed) and
 * each element `check` finds a problem with.
 */
export function checkStrings(
  e: ErrorList,
  path: string,
  value: unknown,
  opts: { what: string; allowEmpty?: boolean; maxItems?: number; check?: (s: string) => string | undefined },
): void {
  for (const [p, item] of listAt(e, path, value, opts.what, opts.maxItems)) {
    if (typeof item !== 'string') e.add(p, `must be a string, got ${kindOf(item)}`);
    else if (item === '' && !opts.allowEmpty) e.add(p, 'must not be empty');
    else if (opts.check) e.check(p, opts.check(item));
  }
}

/** A string field when set: reports another type; returns the string, or undefined. */
export function stringAt(e: ErrorList, path: string, value: unknown): string | undefined {
  if (!isSet(value)) return undefined;
  if (typeof value !== 'string') {
    e.add(path, `must be a string, got ${kindOf(value)}`);
    return undefined;
  }
  return value;
}

/** "required: <what>" when a field is absent, "must not be empty: <what>, got \"\"" when it is "". */
export function requiredMessage(value: unknown, what: string): string {
  return value === '' ? `must not be empty: ${what}, got ""` : `required: ${what}`;
}

/** The number of elements of a list field (0 when absent or not a list). */
export const count = (value: unknown): number => (Array.isArray(value) ? value.length : 0);

// --- selector / targetRef / targetRefs

/** Istio's rule (webhook and CRD): a policy picks its workloads one way only. */
export function validateOneOfSelector(e: ErrorList, spec: Record<string, unknown>): void {
  const [first, ...others] = ['selector', 'targetRef', 'targetRefs'].filter((field) => isSet(spec[field]));
  for (const field of others) e.add(`spec.${field}`, `cannot be set together with ${first}: set only one of selector, targetRef and targetRefs`);
}

/** The kinds a policy may attach to (Istio's allowedTargetRefs): group ("" is core) and kind. */
export const TARGET_REF_KINDS: readonly { group: string; kind: string }[] = [
  { group: '', kind: 'Service' },
  { group: 'networking.istio.io', kind: 'ServiceEntry' },
  { group: 'gateway.networking.k8s.io', kind: 'Gateway' },
  { group: 'gateway.networking.k8s.io', kind: 'GatewayClass' },
];

const TARGET_GROUP = /^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const TARGET_KIND = /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;

/** One targetRef: Istio's webhook rules and its CRD's (patterns and lengths). */
export function validateTargetRef(e: ErrorList, path: string, ref: unknown): void {
  if (!isMap(ref)) {
    e.add(path, `must be an object with group, kind and name, got ${kindOf(ref)}`);
    return;
  }
  const group = stringAt(e, `${path}.group`, ref.group);
  const kind = stringAt(e, `${path}.kind`, ref.kind);
  const name = stringAt(e, `${path}.name`, ref.name);
  const namespace = stringAt(e, `${path}.namespace`, ref.namespace);
  let known = group !== undefined || !isSet(ref.group);
  if (group !== undefined && (group.length > 253 || !TARGET_GROUP.test(group))) {
    e.add(`${path}.group`, `must be an API group (a lower-case DNS name of at most 253 characters) or "" for core, got ${JSON.stringify(group)}`);
    known = false;
  }
  if (kind === undefined || kind === '') {
    // A kind of the wrong type was reported by stringAt.
    if (!isSet(ref.kind) || kind === '') e.add(`${path}.kind`, requiredMessage(ref.kind, 'the kind of the target, e.g. Service or Gateway'));
    known = false;
  } else if (kind.length > 63 || !TARGET_KIND.test(kind)) {
    e.add(`${path}.kind`, `must be a kind name (letters, digits and '-', starting with a letter, at most 63 characters), got ${JSON.stringify(kind)}`);
    known = false;
  }
  if (known) {
    const canonical = group === undefined || group === 'core' ? '' : group;
    if (!TARGET_REF_KINDS.some((t) => t.kind === kind && t.group === canonical)) {
      const allowed = TARGET_REF_KINDS.map((t) => `${t.group || 'core'}/${t.kind}`).join(', ');
      e.add(`${path}.kind`, `a policy can target only ${allowed}; got ${canonical || 'core'}/${kind}`);
    }
  }
  if (name === '' || !isSet(ref.name)) e.add(`${path}.name`, requiredMessage(ref.name, 'the name of the target'));
  else if (name !== undefined && name.length > 253) e.add(`${path}.name`, `must be at most 253 characters, got ${name.length}`);
  if (namespace) e.add(`${path}.namespace`, `must not be set: a policy can target only objects of its own namespace, got ${JSON.stringify(namespace)}`);
}

/** How a policy picks its workloads: one of selector, targetRef and targetRefs, each well formed. */
export function validateWorkloadTargeting(e: ErrorList, spec: Record<string, unknown>): void {
  validateOneOfSelector(e, spec);
  if (isSet(spec.selector)) validateSelector(e, 'spec.selector', spec.selector as WorkloadSelector);
  validateTargetRefs(e, spec);
}

export function validateTargetRefs(e: ErrorList, spec: Record<string, unknown>): void {
  if (isSet(spec.targetRef)) validateTargetRef(e, 'spec.targetRef', spec.targetRef);
  for (const [p, ref] of listAt(e, 'spec.targetRefs', spec.targetRefs, 'target references', 16)) validateTargetRef(e, p, ref);
}

// --- values (Istio's pkg/config/security)

/** An IP address or CIDR block as Go's netip reads it (no leading zeros, no zone in a block). */
export function ipBlockProblem(value: string): string | undefined {
  const slash = value.indexOf('/');
  if (slash < 0) return isIP(value) ? undefined : `invalid IP address ${JSON.stringify(value)}`;
  const addr = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  const version = addr.includes('%') ? 0 : isIP(addr);
  const ok = version !== 0 && /^(0|[1-9]\d{0,2})$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128);
  return ok ? undefined : `invalid CIDR block ${JSON.stringify(value)}: use an address and a prefix length, e.g. 10.0.0.0/16`;
}

/** A port as a string: a decimal number 0-65535 (Istio's ValidatePorts). */
export function portStringProblem(value: string): string | undefined {
  if (/^\d{1,10}$/.test(value) && Number(value) <= 65535) return undefined;
  return `must be a port number between 0 and 65535, got ${JSON.stringify(value)}`;
}

export const MAX_SERVICE_ACCOUNTS = 16;
const MAX_SERVICE_ACCOUNT_LENGTH = 320;

/** `serviceAccount` or `namespace/serviceAccount` (Istio's CheckServiceAccount and CRD limits). */
export function serviceAccountProblem(value: string): string | undefined {
  const quoted = JSON.stringify(value);
  if (value.includes('*')) return `wildcard "*" is not allowed in a service account, got ${quoted}`;
  const slashes = value.split('/').length - 1;
  if (slashes > 1) return `use <serviceAccount> or <namespace>/<serviceAccount>, got ${quoted}`;
  if (value.length > MAX_SERVICE_ACCOUNT_LENGTH) return `must be at most ${MAX_SERVICE_ACCOUNT_LENGTH} characters, got ${value.length}`;
  if (slashes === 1) {
    const [ns, sa] = value.split('/');
    if (ns === '') return `empty namespace: use <serviceAccount> or <namespace>/<serviceAccount>, got ${quoted}`;
    if (sa === '') return `empty service account: use <serviceAccount> or <namespace>/<serviceAccount>, got ${quoted}`;
  }
  return undefined;
}

/** A value matched with Istio's wildcards: exact, `*` alone, `prefix*` or `*suffix`. */
export function wildcardProblem(value: string): string | undefined {
  if (value === '') return 'must not be empty';
  const stars = value.split('*').length - 1;
  if (stars === 0 || value === '*') return undefined;
  if (stars > 1) return `at most one wildcard "*" is allowed (exact, *, prefix* or *suffix), got ${JSON.stringify(value)}`;
  if (value.startsWith('*') || value.endsWith('*')) return undefined;
  return `a wildcard "*" is allowed only at the start or the end (exact, *, prefix* or *suffix), got ${JSON.stringify(value)}`;
}

/** A SPIFFE trust domain as a policy matches it: the domain alone, with Istio's wildcards. */
export function trustDomainProblem(value: string): string | undefined {
  const wildcard = wildcardProblem(value);
  if (wildcard) return wildcard;
  if (value.toLowerCase().startsWith('spiffe://')) return `give the trust domain without "spiffe://", e.g. cluster.local, got ${JSON.stringify(value)}`;
  if (value.includes('/')) return `a trust domain has no "/" (give the domain alone, e.g. cluster.local), got ${JSON.stringify(value)}`;
  return undefined;
}
