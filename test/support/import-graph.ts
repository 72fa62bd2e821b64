// The import graph of the TypeScript sources, read with the TypeScript compiler's own import
// scanner (the same one tsc uses to find a program's files), so every form counts: `import`,
// `import type`, `export ... from`, side-effect imports and `import()`, in code or in types.
// Type-only imports are edges too: a cycle is a layering fault whether or not it survives into
// the emitted JavaScript (tsc drops any import only used as a type, `import type` or not).
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** Files (paths relative to `root`, `/`-separated) to the files they import. */
export type ImportGraph = Map<string, Set<string>>;

function sourceFiles(dir: string, skip: ReadonlySet<string>): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (skip.has(p)) return [];
    if (e.isDirectory()) return sourceFiles(p, skip);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** A relative specifier as NodeNext resolves it to a source file: `./x.js` is `./x.ts`. */
function resolve(from: string, spec: string, known: ReadonlySet<string>): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  const candidates = [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, path.join(base, 'index.ts')];
  return candidates.find((c) => known.has(c));
}

/**
 * Every .ts file under `root`/`dir` (except the folders in `skip`, relative to `root`) with the
 * files of that set it imports. Packages and files outside the set are not edges.
 */
export function importGraph(root: string, dir: string, skip: readonly string[] = []): ImportGraph {
  const files = sourceFiles(path.join(root, dir), new Set(skip.map((s) => path.join(root, s))));
  const known = new Set(files);
  const rel = (f: string): string => path.relative(root, f).split(path.sep).join('/');
  const graph: ImportGraph = new Map();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .map((i) => i.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => resolve(file, spec, known))
      .filter((t): t is string => t !== undefined);
    graph.set(rel(file), new Set(targets.map(rel)));
  }
  return graph;
}

/**
 * The graph of groups: an edge from group A to group B for every file of A importing a file of
 * B, kept with the first such file pair (to name it). Imports within a group are not edges.
 */
export function groupGraph(graph: ImportGraph, groupOf: (file: string) => string): { graph: ImportGraph; via: Map<string, string> } {
  const groups: ImportGraph = new Map();
  const via = new Map<string, string>();
  for (const [file, targets] of graph) {
    const from = groupOf(file);
    if (!groups.has(from)) groups.set(from, new Set());
    for (const target of targets) {
      const to = groupOf(target);
      if (to === from) continue;
      groups.get(from)!.add(to);
      if (!via.has(`${from} ${to}`)) via.set(`${from} ${to}`, `${file} imports ${target}`);
    }
  }
  return { graph: groups, via };
}

/** The strongly connected components with a cycle in them (Tarjan), members sorted. */
export function tangles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const members: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      members.push(w);
    } while (w !== v);
    if (members.length > 1 || graph.get(v)?.has(v)) found.push(members.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found.sort((a, b) => a[0].localeCompare(b[0]));
}

/** One shortest cycle through the first member of a tangle, as a path back to where it starts. */
export function cycleThrough(graph: ImportGraph, members: readonly string[]): string[] {
  const start = members[0];
  const inside = new Set(members);
  const previous = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    for (const next of graph.get(queue[i]) ?? []) {
      if (!inside.has(next)) continue;
      if (next === start) {
        const cycle = [start];
        for (let at: string | undefined = queue[i]; at !== start && at !== undefined; at = previous.get(at)) cycle.unshift(at);
        return [start, ...cycle];
      }
      if (!previous.has(next)) {
        previous.set(next, queue[i]);
        queue.push(next);
      }
    }
  }
  return [...members];
}
