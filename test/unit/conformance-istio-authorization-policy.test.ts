// Istio's own AuthorizationPolicy validation cases (../shared/conformance/istio-validation-security,
// beside the repo, read at test time): Trellis gives Istio's verdict on every one, and a rejection
// names the object and the field.
import { validateManifest } from '../../src/api/validate.js';
import { securityCases } from '../support/security-cases.js';

const valid = securityCases('valid', 'AuthorizationPolicy');
const invalid = securityCases('invalid', 'AuthorizationPolicy');

test('every AuthorizationPolicy case is here: 54 valid, 107 invalid (the README\'s count), each with its verdict', () => {
  expect([valid.length, invalid.length]).toEqual([54, 107]);
  const prefixes = [...valid, ...invalid].map((c) => /^(ap|crd-ap|dataset)-/.exec(c.file)?.[1]);
  expect(new Set(prefixes)).toEqual(new Set(['ap', 'crd-ap', 'dataset']));
  for (const c of [...valid, ...invalid]) expect({ file: c.file, verdict: c.verdict }).toEqual({ file: c.file, verdict: c.folder });
});

describe('Istio accepts, and so does Trellis', () => {
  test.each(valid.map((c) => [c.file, c] as const))('%s', (_file, c) => {
    const result = validateManifest(c.object);
    expect(result).toBeDefined();
    expect(result?.messages).toEqual([]);
  });
});

describe('Istio rejects, and so does Trellis, naming the object and the field', () => {
  test.each(invalid.map((c) => [c.file, c] as const))('%s', (_file, c) => {
    const result = validateManifest(c.object);
    expect(result).toBeDefined();
    expect(result?.messages.length).toBeGreaterThan(0);
    const prefix = `AuthorizationPolicy ${c.object.metadata?.namespace ?? 'default'}/${c.object.metadata?.name}: `;
    for (const message of result?.messages ?? []) expect(message).toMatch(new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(spec|metadata)\\.\\S+: \\S`));
  });
});
