// Istio's own PeerAuthentication validation cases (../shared/conformance/istio-validation-security,
// beside the repo, read at test time): Trellis gives Istio's verdict on every one, and a rejection
// names the object and the field.
import fs from 'node:fs';
import path from 'node:path';
import { loadYaml } from '@kubernetes/client-node';
import { validateManifest } from '../../src/api/validate.js';
import { fixturesDir } from '../fixtures/load.js';

const repo = path.resolve(fixturesDir, '../..');
const casesDir = path.resolve(repo, '../shared/conformance/istio-validation-security');

interface Case {
  file: string;
  folder: 'valid' | 'invalid';
  verdict: string | undefined;
  object: { kind?: string; metadata?: { name?: string; namespace?: string } };
}

function load(folder: Case['folder']): Case[] {
  const dir = path.join(casesDir, folder);
  if (!fs.existsSync(dir)) throw new Error(`no ${dir}: the shared conformance cases are expected beside the repo`);
  return fs
    .readdirSync(dir)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      return { file, folder, verdict: /^# istio: (\w+)$/m.exec(text)?.[1], object: loadYaml<Case['object']>(text) };
    })
    .filter((c) => c.object?.kind === 'PeerAuthentication');
}

const valid = load('valid');
const invalid = load('invalid');

test('every PeerAuthentication case is here: 10 valid, 11 invalid (the README\'s count), each with its verdict', () => {
  expect([valid.length, invalid.length]).toEqual([10, 11]);
  const prefixes = [...valid, ...invalid].map((c) => /^(pa|crd-pa|dataset)-/.exec(c.file)?.[1]);
  expect(new Set(prefixes)).toEqual(new Set(['pa', 'crd-pa', 'dataset']));
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
    const prefix = `PeerAuthentication ${c.object.metadata?.namespace ?? 'default'}/${c.object.metadata?.name}: `;
    for (const message of result?.messages ?? []) expect(message).toMatch(new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(spec|metadata)\\.\\S+: \\S`));
  });
});
