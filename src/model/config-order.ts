// Which of two configs is older, as Istio decides it: creationTimestamp, then name, then
// namespace (timestamps have one-second resolution, so ties are common).
import type { ConfigMeta } from './config-store.js';

/** A config named by namespace and name. */
export interface ConfigRef {
  namespace: string;
  name: string;
}

export function refOf(c: Pick<ConfigMeta, 'namespace' | 'name'>): ConfigRef {
  return { namespace: c.namespace, name: c.name };
}

export function refString(r: ConfigRef): string {
  return `${r.namespace}/${r.name}`;
}

function time(ts: string): number {
  const t = Date.parse(ts);
  return Number.isNaN(t) ? 0 : t;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function compareByAge(a: Pick<ConfigMeta, 'creationTimestamp' | 'namespace' | 'name'>, b: Pick<ConfigMeta, 'creationTimestamp' | 'namespace' | 'name'>): number {
  return time(a.creationTimestamp) - time(b.creationTimestamp) || cmp(a.name, b.name) || cmp(a.namespace, b.namespace);
}

export function sortByAge<T extends Pick<ConfigMeta, 'creationTimestamp' | 'namespace' | 'name'>>(configs: readonly T[]): T[] {
  return [...configs].sort(compareByAge);
}

/** Configs by namespace, each list oldest first (the order Istio applies namespace-scoped policies in). */
export function byNamespaceOldestFirst<T extends Pick<ConfigMeta, 'creationTimestamp' | 'namespace' | 'name'>>(configs: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const c of sortByAge(configs)) {
    const list = out.get(c.namespace) ?? [];
    list.push(c);
    out.set(c.namespace, list);
  }
  return out;
}
