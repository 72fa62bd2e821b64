// The accepted networking.istio.io and security.istio.io configuration, by kind, namespace and
// name. Pure: it holds plain objects and reports what each change affects; it never does I/O.
import type { ConfigKind } from '../api/common.js';
import type { SpecOf } from '../api/types.js';

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

/** A stored config of one kind, its spec typed (validate() accepted it); of a union of kinds, the union. */
export type ConfigOf<K extends ConfigKind> = K extends ConfigKind ? Config<SpecOf<K>> & { kind: K } : never;

/** A stored config of any kind: `switch (c.kind)` gives its typed spec. */
export type AnyConfig = ConfigOf<ConfigKind>;

interface ChangeOf<K extends ConfigKind> {
  kind: K;
  namespace: string;
  name: string;
  hosts: string[];
  op: 'upsert' | 'delete';
  /** The spec before and after the change (undefined when there was none). */
  before?: SpecOf<K>;
  after?: SpecOf<K>;
}

/** What one change touched: enough for the push stage to find the proxies it affects. */
export type ChangeSet = { [K in ConfigKind]: ChangeOf<K> }[ConfigKind];

type Key = string;
const keyOf = (kind: string, namespace: string, name: string): Key => `${kind}/${namespace}/${name}`;

/** The hosts a config speaks about (used to scope pushes). */
export function hostsOf(c: AnyConfig): string[] {
  switch (c.kind) {
    case 'VirtualService':
    case 'ServiceEntry':
      return [...(c.spec.hosts ?? [])];
    case 'DestinationRule':
      return c.spec.host ? [c.spec.host] : [];
    case 'Gateway':
      return (c.spec.servers ?? []).flatMap((srv) => srv.hosts ?? []);
    case 'Sidecar':
    case 'PeerAuthentication':
    case 'AuthorizationPolicy':
    case 'RequestAuthentication':
    case 'Telemetry':
      return [];
  }
}

/** The store holds only what validate() accepted for the config's kind: this is where that is relied on. */
const typed = (c: Config): AnyConfig => c as AnyConfig;

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

export class ConfigStore {
  private readonly configs = new Map<Key, Config>();

  get<K extends ConfigKind>(kind: K, namespace: string, name: string): ConfigOf<K> | undefined {
    return this.configs.get(keyOf(kind, namespace, name)) as ConfigOf<K> | undefined;
  }

  list<K extends ConfigKind>(kind: K): ConfigOf<K>[];
  list(): AnyConfig[];
  list(kind?: ConfigKind): AnyConfig[] {
    const all = [...this.configs.values()].map(typed);
    return kind ? all.filter((c) => c.kind === kind) : all;
  }

  get size(): number {
    return this.configs.size;
  }

  /** Stores a config validate() accepted; returns the change, or undefined when nothing changed. */
  upsert(config: AnyConfig): ChangeSet | undefined {
    const key = keyOf(config.kind, config.namespace, config.name);
    const old = this.configs.get(key);
    this.configs.set(key, config);
    // A status write or another metadata-only update changes the resourceVersion, not the
    // generation: nothing the mesh uses changed, so no push.
    if (old && old.generation === config.generation && sameRecord(old.labels, config.labels) && sameRecord(old.annotations, config.annotations)) return undefined;
    const hosts = new Set([...hostsOf(typed(config)), ...(old ? hostsOf(typed(old)) : [])]);
    return { kind: config.kind, namespace: config.namespace, name: config.name, hosts: [...hosts], op: 'upsert', before: old?.spec, after: config.spec } as ChangeSet;
  }

  delete(kind: ConfigKind, namespace: string, name: string): ChangeSet | undefined {
    const key = keyOf(kind, namespace, name);
    const old = this.configs.get(key);
    if (!old) return undefined;
    this.configs.delete(key);
    return { kind, namespace, name, hosts: hostsOf(typed(old)), op: 'delete', before: old.spec } as ChangeSet;
  }
}
