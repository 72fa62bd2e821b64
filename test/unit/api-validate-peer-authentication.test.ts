// PeerAuthentication validation: Istio's rules (its webhook's and its CRD schema's), each broken
// rule named by field path, and the same verdict from the admission webhook's handler.
import { validationErrors, validateManifest } from '../../src/api/validate.js';
import { validateAdmission } from '../../src/webhooks/validation.js';
import type { AdmissionRequest } from '../../src/webhooks/admission.js';

const check = (spec: unknown, annotations?: Record<string, string>): string[] =>
  validationErrors('PeerAuthentication', 'bar', 'p', spec, annotations).map((e) => `${e.path}: ${e.message}`);

describe('PeerAuthentication rules', () => {
  test('an empty spec, a mode alone, a selector with port-level modes are valid', () => {
    expect(check({})).toEqual([]);
    for (const mode of ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']) expect(check({ mtls: { mode } })).toEqual([]);
    expect(check({ selector: { matchLabels: { app: 'httpbin' } }, mtls: { mode: 'STRICT' }, portLevelMtls: { '8080': { mode: 'DISABLE' }, '9090': {} } })).toEqual([]);
  });

  test('a selector without labels is valid (Istio only warns)', () => {
    expect(check({ selector: {} })).toEqual([]);
    expect(check({ selector: { matchLabels: {} }, mtls: { mode: 'STRICT' } })).toEqual([]);
  });

  test('portLevelMtls needs selector labels, at least one port, and ports 1-65535', () => {
    expect(check({ portLevelMtls: { '8080': { mode: 'UNSET' } } })).toEqual([
      'spec.portLevelMtls: requires a selector with at least one label: a namespace-wide or mesh-wide policy cannot set port-level mTLS',
    ]);
    expect(check({ selector: {}, portLevelMtls: { '80': { mode: 'STRICT' } } })).toHaveLength(1);
    expect(check({ selector: { matchLabels: { app: 'a' } }, portLevelMtls: {} })).toEqual(['spec.portLevelMtls: must name at least one port when set']);
    const ports = (port: string): string[] => check({ selector: { matchLabels: { app: 'a' } }, portLevelMtls: { [port]: { mode: 'STRICT' } } });
    expect(ports('0')).toEqual(['spec.portLevelMtls[0]: port must be between 1 and 65535, got 0']);
    expect(ports('65536')).toEqual(['spec.portLevelMtls[65536]: port must be between 1 and 65535, got 65536']);
    expect(ports('acd')).toEqual(['spec.portLevelMtls[acd]: port must be a number between 1 and 65535, got "acd"']);
    expect(ports('-1')).toHaveLength(1);
    expect(ports('1')).toEqual([]);
    expect(ports('65535')).toEqual([]);
  });

  test('a mode must be one of Istio\'s, at the policy and per port', () => {
    expect(check({ mtls: { mode: 'BLAH' } })).toEqual(['spec.mtls.mode: must be one of UNSET, DISABLE, PERMISSIVE, STRICT, got "BLAH"']);
    expect(check({ mtls: { mode: 'strict' } })).toHaveLength(1);
    expect(check({ selector: { matchLabels: { app: 'a' } }, portLevelMtls: { '80': { mode: 'OFF' } } })).toEqual([
      'spec.portLevelMtls[80].mode: must be one of UNSET, DISABLE, PERMISSIVE, STRICT, got "OFF"',
    ]);
  });

  test('selector labels: no empty key, no wildcard, values of at most 63 characters', () => {
    expect(check({ selector: { matchLabels: { '': 'x' } } })).toEqual(['spec.selector.matchLabels[]: label key must not be empty']);
    expect(check({ selector: { matchLabels: { 'a*': 'x' } } })).toEqual(['spec.selector.matchLabels[a*]: wildcard "*" is not allowed in a label key, got "a*"']);
    expect(check({ selector: { matchLabels: { app: '*' } } })).toEqual(['spec.selector.matchLabels[app]: wildcard "*" is not allowed in a label value, got "*"']);
    expect(check({ selector: { matchLabels: { app: 'x'.repeat(64) } } })).toEqual(['spec.selector.matchLabels[app]: label value must be at most 63 characters, got 64']);
    // Istio checks no more than that for security policies: these are fine.
    expect(check({ selector: { matchLabels: { 'example.com/team': 'a b', app: '' } } })).toEqual([]);
  });

  test('every broken rule is reported, in field order', () => {
    expect(check({ selector: { matchLabels: { app: '*' } }, mtls: { mode: 'NO' }, portLevelMtls: { '0': { mode: 'UNSET' } } }).map((m) => m.split(':')[0])).toEqual([
      'spec.selector.matchLabels[app]',
      'spec.mtls.mode',
      'spec.portLevelMtls[0]',
    ]);
  });

  test('malformed input yields errors, never an exception', () => {
    const weird = [{ selector: 'x' }, { selector: { matchLabels: [1] } }, { mtls: 3 }, { portLevelMtls: [] }, { selector: { matchLabels: { a: 'b' } }, portLevelMtls: { '80': null } }, { selector: { matchLabels: { a: 1 } } }];
    for (const spec of weird) {
      expect(() => check(spec)).not.toThrow();
      expect({ spec, errors: check(spec).length > 0 }).toEqual({ spec, errors: true });
    }
    expect(check(null)).toEqual(['spec: required, and must be an object']);
  });

  test('the annotations Istio reserves are rejected, on every kind', () => {
    expect(check({}, { 'internal.istio.io/webhook-always-reject': 'true' })).toEqual([
      'metadata.annotations[internal.istio.io/webhook-always-reject]: this annotation makes Istio validation reject the object; remove it',
    ]);
    expect(check({}, { 'istio.io/dry-run': 'true' })).toEqual(['metadata.annotations[istio.io/dry-run]: only AuthorizationPolicy supports this annotation; remove it']);
    expect(validationErrors('Gateway', 'ns', 'g', { servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] }, { 'internal.istio.io/webhook-always-reject': '' })).toHaveLength(1);
    expect(check({}, { 'example.com/owner': 'me' })).toEqual([]);
  });
});

describe('validateManifest() and the webhook for PeerAuthentication', () => {
  const manifest = { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'web', namespace: 'shop' }, spec: { portLevelMtls: { '80': { mode: 'STRICT' } } } };

  test('names the object, the field and the rule', () => {
    expect(validateManifest(manifest)?.messages).toEqual([
      'PeerAuthentication shop/web: spec.portLevelMtls: requires a selector with at least one label: a namespace-wide or mesh-wide policy cannot set port-level mTLS',
    ]);
    expect(validateManifest({ ...manifest, apiVersion: 'security.istio.io/v1beta1', spec: {} })?.messages).toEqual([]);
  });

  test('only in its own API group', () => {
    expect(validateManifest({ ...manifest, apiVersion: 'networking.istio.io/v1' })).toBeUndefined();
    expect(validateManifest({ ...manifest, apiVersion: 'security.istio.io/v1', kind: 'VirtualService' })).toBeUndefined();
  });

  const request = (group: string, object: unknown): AdmissionRequest => ({ uid: 'u1', kind: { group, version: 'v1', kind: 'PeerAuthentication' }, operation: 'CREATE', namespace: 'shop', object });

  test('the webhook denies an invalid one with the same message, and allows a valid one', () => {
    expect(validateAdmission(request('security.istio.io', manifest))).toEqual({
      uid: 'u1',
      allowed: false,
      status: { code: 422, reason: 'Invalid', message: validateManifest(manifest)!.messages[0] },
    });
    expect(validateAdmission(request('security.istio.io', { ...manifest, spec: { mtls: { mode: 'STRICT' } } }))).toEqual({ uid: 'u1', allowed: true });
  });

  test('the webhook honours Istio\'s always-reject annotation, and leaves other groups alone', () => {
    const tagged = { ...manifest, metadata: { ...manifest.metadata, annotations: { 'internal.istio.io/webhook-always-reject': 'true' } }, spec: {} };
    expect(validateAdmission(request('security.istio.io', tagged)).allowed).toBe(false);
    expect(validateAdmission(request('networking.istio.io', manifest))).toEqual({ uid: 'u1', allowed: true });
    expect(validateAdmission({ ...request('security.istio.io', manifest), operation: 'DELETE' })).toEqual({ uid: 'u1', allowed: true });
  });
});
