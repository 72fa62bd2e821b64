// What a module loads when it starts: its static value imports, followed through the project's
// own files (`import type` and `import()` load nothing at start). Entries are absolute paths of
// project files (.ts) and package or node: specifiers.
import fs from 'node:fs';
import path from 'node:path';

export function runtimeImports(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = fs.readFileSync(file, 'utf8');
  for (const m of text.matchAll(/^(?:import|export)\s(?!type\b)(?:[^;]*?from\s+)?'([^']+)'/gm)) {
    const spec = m[1];
    if (spec.startsWith('.')) runtimeImports(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')), seen);
    else seen.add(spec);
  }
  return seen;
}
