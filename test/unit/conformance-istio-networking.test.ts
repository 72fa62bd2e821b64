// Istio's own validation cases for the networking kinds (../shared/conformance/istio-validation,
// beside the repo, read at test time): Trellis gives Istio's verdict, through the same validate()
// the webhook and the controllers use, on every case but those listed in
// test/fixtures/istio-validation-known/<Kind>.txt (issue 15: each list only shrinks). A rejection
// names the object and the field.
import fs from 'node:fs';
import path from 'node:path';
import { validateManifest } from '../../src/api/validate.js';
import { fixturesDir } from '../fixtures/load.js';
import { istioCases, type SecurityCase } from '../support/security-cases.js';

const KINDS = ['VirtualService', 'DestinationRule', 'Gateway', 'ServiceEntry'] as const;
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

function known(kind: string): Set<string> {
  const text = fs.readFileSync(path.join(fixturesDir, 'istio-validation-known', `${kind}.txt`), 'utf8');
  return new Set(text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')));
}

test("every case is here: 552, 255 valid and 297 invalid (the README's count)", () => {
  const count = (folder: SecurityCase['folder']) => KINDS.reduce((n, k) => n + istioCases('istio-validation', folder, k).length, 0);
  expect([count('valid'), count('invalid')]).toEqual([255, 297]);
});

describe.each(KINDS)('%s', (kind) => {
  const listed = known(kind);
  const cases = [...istioCases('istio-validation', 'valid', kind), ...istioCases('istio-validation', 'invalid', kind)];

  test('every listed disagreement is a case of this kind', () => {
    const files = new Set(cases.map((c) => c.file));
    expect([...listed].filter((f) => !files.has(f))).toEqual([]);
  });

  test.each(cases.map((c) => [`${c.folder}/${c.file}`, c] as const))('%s', (_name, c) => {
    const result = validateManifest(c.object);
    expect(result).toBeDefined();
    const messages = result?.messages ?? [];
    const ours = messages.length > 0 ? 'invalid' : 'valid';
    if (listed.has(c.file)) {
      // Known to differ: fails once it agrees, so the list stays true.
      expect({ file: c.file, trellis: ours, note: 'listed as a disagreement in istio-validation-known; remove it' }).toEqual({ file: c.file, trellis: c.folder === 'valid' ? 'invalid' : 'valid', note: expect.any(String) });
      return;
    }
    expect({ file: c.file, istio: c.folder, trellis: ours, messages }).toEqual({ file: c.file, istio: c.folder, trellis: c.folder, messages: c.folder === 'valid' ? [] : expect.any(Array) });
    const object = `${kind} ${c.object.metadata?.namespace ?? 'default'}/${c.object.metadata?.name}: `;
    for (const message of messages) expect(message).toMatch(new RegExp(`^${escape(object)}(spec|metadata)\\.?\\S*: \\S`));
  });
});
