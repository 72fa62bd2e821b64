// Small helpers for building a proxy's resources: keyed by name, built per type on demand.
import type { Snapshot } from '../xds/snapshot.js';
import { resourceName, type ResourceOf, type TypeUrl } from '../xds/types.js';

/** Resources keyed by their xDS name; the first of a name wins, nameless ones are left out. */
export function byName<T extends TypeUrl>(type: T, items: readonly ResourceOf[T][]): Map<string, ResourceOf[T]> {
  const m = new Map<string, ResourceOf[T]>();
  for (const x of items) {
    const name = resourceName(type, x);
    if (name !== undefined && !m.has(name)) m.set(name, x);
  }
  return m;
}

/** `base` with `extra` added where their names are new (base is not modified). */
export function withResources<T extends TypeUrl>(type: T, base: ReadonlyMap<string, ResourceOf[T]>, extra: readonly ResourceOf[T][]): ReadonlyMap<string, ResourceOf[T]> {
  if (extra.length === 0) return base;
  const m = new Map(base);
  for (const [name, x] of byName(type, extra)) if (!m.has(name)) m.set(name, x);
  return m;
}

/**
 * The resources of `types` from per-type builders, each built only when asked for: a push of
 * endpoints alone must not translate listeners and routes for every proxy.
 */
export function pickTypes(types: ReadonlySet<TypeUrl>, builders: { [T in TypeUrl]?: () => ReadonlyMap<string, ResourceOf[T]> }): Snapshot {
  const out: Record<string, unknown> = {};
  for (const t of types) {
    const build = builders[t] as (() => unknown) | undefined;
    if (build) out[t] = build();
  }
  return out as Snapshot;
}

/** A value computed on first use (shared by the builders of one snapshot). */
export function once<T>(f: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = f();
      done = true;
    }
    return value;
  };
}
