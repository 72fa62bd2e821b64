// Istio's own validation cases (../shared/conformance/istio-validation and
// istio-validation-security, beside the repo, read at test time), one manifest per file with
// Istio's verdict in a `# istio: valid|invalid` comment. Shared by the conformance tests of the
// networking and security kinds.
import fs from 'node:fs';
import path from 'node:path';
import { loadYaml } from '@kubernetes/client-node';
import { fixturesDir } from '../fixtures/load.js';

const conformance = path.resolve(fixturesDir, '../..', '../shared/conformance');

export interface IstioCase {
  file: string;
  folder: 'valid' | 'invalid';
  verdict: string | undefined;
  /** Istio accepts it with a warning (`# note: Istio warns`). */
  warns: boolean;
  object: { kind?: string; metadata?: { name?: string; namespace?: string } };
}

/** The cases of one folder for one kind, sorted by file name. */
export function securityCases(folder: IstioCase['folder'], kind: string): IstioCase[] {
  return istioCases('istio-validation-security', folder, kind);
}

/** The cases of `set` (a folder of ../shared/conformance) in one verdict folder for one kind, sorted by file name. */
export function istioCases(set: string, folder: IstioCase['folder'], kind: string): IstioCase[] {
  const dir = path.join(conformance, set, folder);
  if (!fs.existsSync(dir)) throw new Error(`no ${dir}: the shared conformance cases are expected beside the repo`);
  return fs
    .readdirSync(dir)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      return { file, folder, verdict: /^# istio: (\w+)$/m.exec(text)?.[1], warns: /^# note: Istio warns$/m.test(text), object: loadYaml<IstioCase['object']>(text) };
    })
    .filter((c) => c.object?.kind === kind);
}
