// The metadata rules Istio's validation applies to every kind before its spec: two annotations
// Istio reserves. Its integration tests rely on the first (the webhook must deny such objects).
import type { ConfigKind } from './common.js';
import { ErrorList, type ValidationError } from './validate-errors.js';

/** Istio's test hook: the validating webhook rejects any object carrying it. */
export const ALWAYS_REJECT_ANNOTATION = 'internal.istio.io/webhook-always-reject';

/** Only AuthorizationPolicy supports it (its value and action: validate-authorization-policy.ts). */
export const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

export function validateMetadata(kind: ConfigKind, annotations: Readonly<Record<string, string>> | undefined): ValidationError[] {
  const e = new ErrorList();
  const has = (key: string): boolean => annotations !== null && typeof annotations === 'object' && Object.prototype.hasOwnProperty.call(annotations, key);
  if (has(DRY_RUN_ANNOTATION) && kind !== 'AuthorizationPolicy') e.add(`metadata.annotations[${DRY_RUN_ANNOTATION}]`, 'only AuthorizationPolicy supports this annotation; remove it');
  if (has(ALWAYS_REJECT_ANNOTATION)) e.add(`metadata.annotations[${ALWAYS_REJECT_ANNOTATION}]`, 'this annotation makes Istio validation reject the object; remove it');
  return e.errors;
}
