// Istio's own validation cases for the security kinds (../shared/conformance/istio-validation-security,
// beside the repo, read at test time): Trellis gives Istio's verdict on every one, and a rejection
// names the object and the field.
import { validateManifest } from '../../src/api/validate.js';
import { securityCases } from '../support/istio-cases.js';

/** Each kind with the README's counts (valid, invalid) and its file-name prefix. */
const KINDS = [
  ['PeerAuthentication', 10, 11, 'pa'],
  ['AuthorizationPolicy', 54, 107, 'ap'],
  ['RequestAuthentication', 21, 50, 'ra'],
] as const;

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe.each(KINDS)('%s', (kind, validCount, invalidCount, prefix) => {
  const valid = securityCases('valid', kind);
  const invalid = securityCases('invalid', kind);

  test(`every case is here: ${validCount} valid, ${invalidCount} invalid (the README's count), each with its verdict`, () => {
    expect([valid.length, invalid.length]).toEqual([validCount, invalidCount]);
    const prefixes = [...valid, ...invalid].map((c) => new RegExp(`^(${prefix}|crd-${prefix}|dataset)-`).exec(c.file)?.[1]);
    expect(new Set(prefixes)).toEqual(new Set([prefix, `crd-${prefix}`, 'dataset']));
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
      const object = `${kind} ${c.object.metadata?.namespace ?? 'default'}/${c.object.metadata?.name}: `;
      for (const message of result?.messages ?? []) expect(message).toMatch(new RegExp(`^${escape(object)}(spec|metadata)\\.\\S+: \\S`));
    });
  });
});
