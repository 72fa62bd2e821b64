// Which names differ between two desired maps of one type (added, removed, or a new version),
// computed once per pair of maps. Proxies alike share their desired maps (the server's
// encodedMaps), so a push moves a whole group of proxies from the same map to the same map: the
// server's "did anything change" check and every stream's incremental plan (type-state.ts) read
// the one answer instead of each walking every resource.
import type { EncodedResource } from './encoded-resource.js';

export type DesiredMap = ReadonlyMap<string, EncodedResource>;

const NONE: readonly string[] = [];

/** prev → next → the names whose version differs. Weak on both sides: maps no one holds go. */
const diffs = new WeakMap<DesiredMap, WeakMap<DesiredMap, readonly string[]>>();

/** The names present in one map only, or in both with different versions (in no set order). */
export function changedNames(prev: DesiredMap, next: DesiredMap): readonly string[] {
  if (prev === next) return NONE;
  let byNext = diffs.get(prev);
  const known = byNext?.get(next);
  if (known) return known;
  const names: string[] = [];
  for (const [name, r] of next) if (prev.get(name)?.version !== r.version) names.push(name);
  for (const name of prev.keys()) if (!next.has(name)) names.push(name);
  if (!byNext) diffs.set(prev, (byNext = new WeakMap()));
  byNext.set(next, names.length === 0 ? NONE : names);
  return names;
}
