// The validating webhook for networking.istio.io and security.istio.io objects: the same rules the
// controllers apply, so `kubectl apply` of an invalid object fails with a message naming the field.
import { GROUP_OF, isConfigKind } from '../api/common.js';
import { formatErrors } from '../api/validate-errors.js';
import { validate } from '../api/validate.js';
import type { AdmissionRequest, AdmissionResponse } from './admission.js';

interface ObjectShape {
  metadata?: { name?: string; generateName?: string; namespace?: string; annotations?: Record<string, string> };
  spec?: unknown;
}

export function validateAdmission(req: AdmissionRequest): AdmissionResponse {
  const allow: AdmissionResponse = { uid: req.uid, allowed: true };
  const kind = req.kind.kind;
  if (req.operation === 'DELETE' || !isConfigKind(kind) || req.kind.group !== GROUP_OF[kind]) return allow;
  const obj = (req.object ?? {}) as ObjectShape;
  const name = obj.metadata?.name ?? req.name ?? obj.metadata?.generateName ?? '';
  const namespace = obj.metadata?.namespace ?? req.namespace ?? 'default';
  const v = validate(kind, namespace, name, obj.spec, obj.metadata?.annotations);
  if (v.ok) {
    // Istio's warnings on a valid object: kubectl prints them, the object is admitted.
    const warnings = formatErrors(kind, namespace, name, v.warnings);
    return warnings.length > 0 ? { ...allow, warnings } : allow;
  }
  const messages = formatErrors(kind, namespace, name, v.errors);
  return { uid: req.uid, allowed: false, status: { code: 422, reason: 'Invalid', message: messages.join('; ') } };
}
