// Reading manifests for the CLI: files, folders (recursively, *.yaml/*.yml/*.json) or "-".
import fs from 'node:fs';
import path from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';

export interface LoadedDoc {
  source: string;
  doc: unknown;
}

function manifestFiles(p: string): string[] {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return [p];
  return fs
    .readdirSync(p)
    .sort()
    .flatMap((f) => {
      const full = path.join(p, f);
      return fs.statSync(full).isDirectory() ? manifestFiles(full) : /\.(ya?ml|json)$/.test(f) ? [full] : [];
    });
}

/** A line that makes a YAML document hold something (not blank, a comment, or an end marker). */
const contentLine = (l: string): boolean => {
  const t = l.trim();
  return t !== '' && !t.startsWith('#') && t !== '...';
};

/**
 * The documents of a YAML stream. loadAllYaml throws on an empty document (a trailing `---`, a
 * file of comments only), which manifests often have: those are left out before it parses.
 */
function yamlDocuments(text: string): unknown[] {
  const docs = text.split(/^---(?=\s|$)/m).filter((d) => d.split('\n').some(contentLine));
  return docs.length ? loadAllYaml(docs.join('\n---\n')) : [];
}

export function loadDocs(paths: string[], stdin: () => string): LoadedDoc[] {
  const out: LoadedDoc[] = [];
  for (const p of paths) {
    const files = p === '-' ? ['-'] : manifestFiles(p);
    for (const f of files) {
      const text = f === '-' ? stdin() : fs.readFileSync(f, 'utf8');
      for (const doc of yamlDocuments(text)) {
        if (doc === null || doc === undefined) continue;
        // A List is many objects.
        const items = (doc as { kind?: string; items?: unknown[] }).kind?.endsWith('List') ? ((doc as { items?: unknown[] }).items ?? []) : [doc];
        for (const item of items) out.push({ source: f === '-' ? '<stdin>' : f, doc: item });
      }
    }
  }
  return out;
}
