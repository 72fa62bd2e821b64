// trellisctl reads manifests as users write them: a trailing `---`, a document of comments only
// or an empty file are nothing to check, not a crash.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadDocs } from '../../src/cli/files.js';

const kinds = (text: string): unknown[] => loadDocs(['-'], () => text).map((d) => (d.doc as { kind?: string }).kind);

test('empty documents are skipped: a trailing ---, comments only, an empty stream', () => {
  expect(kinds('kind: Gateway\n---\n')).toEqual(['Gateway']);
  expect(kinds('# nothing yet\n')).toEqual([]);
  expect(kinds('')).toEqual([]);
  expect(kinds('---\n# first\n---\nkind: VirtualService\n---\n# between\n---\nkind: DestinationRule\n...\n')).toEqual(['VirtualService', 'DestinationRule']);
});

test('a document whose text holds --- inside a value stays whole', () => {
  expect(loadDocs(['-'], () => 'kind: ConfigMap\ndata:\n  a: |\n    x\n    ---\n    y\n').map((d) => d.doc)).toEqual([{ kind: 'ConfigMap', data: { a: 'x\n---\ny\n' } }]);
});

test('a List is its items, and a folder its YAML files in name order', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'files-'));
  try {
    fs.writeFileSync(path.join(dir, 'b.yaml'), 'kind: List\nitems:\n- kind: Gateway\n- kind: ServiceEntry\n');
    fs.writeFileSync(path.join(dir, 'a.yml'), '# only a comment\n---\nkind: VirtualService\n');
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'kind: Ignored\n');
    expect(loadDocs([dir], () => '').map((d) => [path.basename(d.source), (d.doc as { kind: string }).kind])).toEqual([
      ['a.yml', 'VirtualService'],
      ['b.yaml', 'Gateway'],
      ['b.yaml', 'ServiceEntry'],
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
