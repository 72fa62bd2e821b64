// PeerAuthentication validation with Istio's rules: those of its webhook, and those its CRD
// schema enforces (mode names, port range, a non-empty portLevelMtls, selector label limits),
// since Trellis's CRD leaves value rules to this code.
import type { WorkloadSelector } from './common.js';
import { MUTUAL_TLS_MODES, type PeerAuthenticationMutualTls, type PeerAuthenticationSpec } from './peer-authentication.js';
import { ErrorList, entries, isSet, type ValidationError } from './validate-errors.js';

const MAX_SELECTOR_LABELS = 4096;
const MAX_LABEL_VALUE = 63;

const isMap = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export function validatePeerAuthentication(spec: PeerAuthenticationSpec): ValidationError[] {
  const e = new ErrorList();
  if (isSet(spec.selector)) validateSelector(e, 'spec.selector', spec.selector);
  if (isSet(spec.mtls)) validateMutualTls(e, 'spec.mtls', spec.mtls);
  if (isSet(spec.portLevelMtls)) validatePortLevelMtls(e, spec);
  return e.errors;
}

/** Istio's selector rules for security policies: no empty key, no wildcard; the CRD's limits. */
export function validateSelector(e: ErrorList, path: string, selector: WorkloadSelector): void {
  if (!isMap(selector)) {
    e.add(path, 'must be an object with matchLabels');
    return;
  }
  const labels: unknown = selector.matchLabels;
  if (!isSet(labels)) return;
  if (!isMap(labels)) {
    e.add(`${path}.matchLabels`, 'must be a map of label names to values');
    return;
  }
  const pairs = Object.entries(labels);
  if (pairs.length > MAX_SELECTOR_LABELS) e.add(`${path}.matchLabels`, `at most ${MAX_SELECTOR_LABELS} labels, got ${pairs.length}`);
  for (const [key, value] of pairs) {
    const p = `${path}.matchLabels[${key}]`;
    if (key === '') e.add(p, 'label key must not be empty');
    else if (key.includes('*')) e.add(p, `wildcard "*" is not allowed in a label key, got ${JSON.stringify(key)}`);
    if (typeof value !== 'string') e.add(p, `label value must be a string, got ${JSON.stringify(value)}`);
    else if (value.includes('*')) e.add(p, `wildcard "*" is not allowed in a label value, got ${JSON.stringify(value)}`);
    else if (value.length > MAX_LABEL_VALUE) e.add(p, `label value must be at most ${MAX_LABEL_VALUE} characters, got ${value.length}`);
  }
}

function validateMutualTls(e: ErrorList, path: string, mtls: PeerAuthenticationMutualTls): void {
  if (!isMap(mtls)) {
    e.add(path, 'must be an object with a mode');
    return;
  }
  const mode: unknown = mtls.mode;
  if (isSet(mode) && !MUTUAL_TLS_MODES.includes(mode as never)) {
    e.add(`${path}.mode`, `must be one of ${MUTUAL_TLS_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  }
}

/** A port key: a decimal number (the map key of a uint32 field) between 1 and 65535. */
export function portKeyProblem(key: string): string | undefined {
  if (!/^[0-9]+$/.test(key)) return `port must be a number between 1 and 65535, got ${JSON.stringify(key)}`;
  const port = Number(key);
  return port >= 1 && port <= 65535 ? undefined : `port must be between 1 and 65535, got ${port}`;
}

function validatePortLevelMtls(e: ErrorList, spec: PeerAuthenticationSpec): void {
  const path = 'spec.portLevelMtls';
  if (!isMap(spec.portLevelMtls)) {
    e.add(path, 'must be a map of port numbers to {mode}');
    return;
  }
  const ports = entries(spec.portLevelMtls);
  if (ports.length === 0) e.add(path, 'must name at least one port when set');
  else if (entries(spec.selector?.matchLabels).length === 0) {
    e.add(path, 'requires a selector with at least one label: a namespace-wide or mesh-wide policy cannot set port-level mTLS');
  }
  for (const [key, mtls] of ports) {
    const p = `${path}[${key}]`;
    e.check(p, portKeyProblem(key));
    if (!isSet(mtls)) e.add(p, 'must be an object with a mode');
    else validateMutualTls(e, p, mtls);
  }
}
