// The accepted networking.istio.io and security.istio.io configuration, by kind, namespace and
// name. Pure: it holds plain objects and reports what each change affects; it never does I/O.
import type { ConfigKind } from '../api/common.js';

export interface ConfigMeta {
  kind: ConfigKind;
  namespace: string;
  name: string;
  generation: number;
  resourceVersion: string;
  creationTimestamp: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface Config<S = unknown> extends ConfigMeta {
  spec: S;
}

/** What one change touched: enough for the push stage to find the proxies it affects. */
export interface ChangeSet {
  kind: ConfigKind;
  namespace: string;
  name: string;
  hosts: string[];
  op: 'upsert' | 'delete';
  /** The spec before and after the change (undefined when there was none). */
  before?: unknown;
  after?: unknown;
}

type Key = string;
const keyOf = (kind: string, namespace: string, name: string): Key => `${kind}/${namespace}/${name}`;

/** The hosts a config of this kind speaks about (used to scope pushes). */
export function hostsOf(kind: ConfigKind, spec: unknown): string[] {
  const s = (spec ?? {}) as { hosts?: string[]; host?: string; servers?: { hosts?: string[] }[] };
  switch (kind) {
    case 'VirtualService':
    case 'ServiceEntry':
      return [...(s.hosts ?? [])];
    case 'DestinationRule':
      return s.host ? [s.host] : [];
    case 'Gateway':
      return (s.servers ?? []).flatMap((srv) => srv.hosts ?? []);
    case 'PeerAuthentication':
    case 'AuthorizationPolicy':
    case 'RequestAuthentication':
      return [];
  }
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

export class ConfigStore {
  private readonly configs = new Map<Key, Config>();

  get(kind: ConfigKind, namespace: string, name: string): Config | undefined {
    return this.configs.get(keyOf(kind, namespace, name));
  }

  list(kind?: ConfigKind): Config[] {
    const all = [...this.configs.values()];
    return kind ? all.filter((c) => c.kind === kind) : all;
  }

  get size(): number {
    return this.configs.size;
  }

  /** Stores an accepted config; returns the change, or undefined when nothing changed. */
  upsert(config: Config): ChangeSet | undefined {
    const key = keyOf(config.kind, config.namespace, config.name);
    const old = this.configs.get(key);
    this.configs.set(key, config);
    // A status write or another metadata-only update changes the resourceVersion, not the
    // generation: nothing the mesh uses changed, so no push.
    if (old && old.generation === config.generation && sameRecord(old.labels, config.labels) && sameRecord(old.annotations, config.annotations)) return undefined;
    const hosts = new Set([...hostsOf(config.kind, config.spec), ...(old ? hostsOf(old.kind, old.spec) : [])]);
    return { kind: config.kind, namespace: config.namespace, name: config.name, hosts: [...hosts], op: 'upsert', before: old?.spec, after: config.spec };
  }

  delete(kind: ConfigKind, namespace: string, name: string): ChangeSet | undefined {
    const key = keyOf(kind, namespace, name);
    const old = this.configs.get(key);
    if (!old) return undefined;
    this.configs.delete(key);
    return { kind, namespace, name, hosts: hostsOf(kind, old.spec), op: 'delete', before: old.spec };
  }
}
