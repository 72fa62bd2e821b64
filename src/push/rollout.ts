// The rollout of config objects: of the proxies an object reaches, how many hold configuration
// built from its current generation, and which rejected it. "Reaches" is decided by the rules
// the push itself follows (pushFor, outsideSidecarScopes), so an object counts exactly the
// proxies a change to it is sent to. An object's current generation entered the model at one
// model version (MeshSource.epoch right after the change); a proxy holds it once the types the
// object concerns are synced up to that version (Proxy.syncedEpoch), and rejected it while a
// rejection of one of those types covers that version.
import { hostsOf, type AnyConfig, type ChangeSet } from '../model/config-store.js';
import type { Mesh } from '../model/mesh.js';
import type { RejectedEpochs } from '../xds/proxy-registry.js';
import { ALL_TYPES, type TypeUrl } from '../xds/types.js';
import { outsideSidecarScopes, pushFor, type ProxyRef } from './changes.js';

/** What the rollout needs of a connected proxy. */
export interface RolloutProxy extends ProxyRef {
  syncedEpoch(t: TypeUrl): number;
  rejected(t: TypeUrl): RejectedEpochs | undefined;
}

export interface Rollout {
  /** Proxies the object reaches. */
  readonly reached: number;
  /** Of those, the ones holding configuration built from its current generation. */
  readonly upToDate: number;
  /** Of those, the ones that rejected it, with their text. */
  readonly rejected: ReadonlyArray<{ readonly proxy: string; readonly message: string }>;
}

interface Tracked {
  readonly config: AnyConfig;
  readonly epoch: number;
}

const keyOf = (kind: string, namespace: string, name: string): string => `${kind}/${namespace}/${name}`;

/** The object as a change of nothing but itself: what a change to it would reach. */
function asChange(c: AnyConfig): ChangeSet {
  return { kind: c.kind, namespace: c.namespace, name: c.name, hosts: hostsOf(c), op: 'upsert', before: c.spec, after: c.spec } as ChangeSet;
}

export class RolloutTracker {
  private readonly objects = new Map<string, Tracked>();

  constructor(private readonly rootNamespace: string) {}

  /** A config change took effect in the model at `epoch`; `current` is the object now (none: deleted). */
  record(change: ChangeSet, epoch: number, current: AnyConfig | undefined): void {
    const key = keyOf(change.kind, change.namespace, change.name);
    if (change.op === 'delete' || !current) this.objects.delete(key);
    else this.objects.set(key, { config: current, epoch });
  }

  /** The objects tracked, as "kind/namespace/name". */
  keys(): string[] {
    return [...this.objects.keys()];
  }

  /** The rollout of an object's current generation to the connected proxies. */
  rollout(kind: string, namespace: string, name: string, proxies: readonly RolloutProxy[], mesh: Mesh): Rollout | undefined {
    const tracked = this.objects.get(keyOf(kind, namespace, name));
    if (!tracked) return undefined;
    const change = asChange(tracked.config);
    const push = pushFor(change, proxies, this.rootNamespace);
    const wanted = push.proxies ? new Set(push.proxies) : undefined;
    const skipped = outsideSidecarScopes(change, mesh, proxies);
    const types = push.types ? ([...push.types] as TypeUrl[]) : ALL_TYPES;
    let reached = 0;
    let upToDate = 0;
    const rejected: Array<{ proxy: string; message: string }> = [];
    for (const p of proxies) {
      if ((wanted && !wanted.has(p.id)) || skipped.has(p.id)) continue;
      reached++;
      const rejection = types.map((t) => p.rejected(t)).find((r) => r !== undefined && r.after < tracked.epoch && tracked.epoch <= r.through);
      if (rejection) rejected.push({ proxy: p.id, message: rejection.message });
      else if (types.every((t) => p.syncedEpoch(t) >= tracked.epoch)) upToDate++;
    }
    return { reached, upToDate, rejected };
  }
}

/** Istio's words for a rollout ("2/3 proxies up to date."), and Trellis's for its rejections. */
export function rolloutMessage(r: Rollout): string {
  const base = `${r.upToDate}/${r.reached} proxies up to date.`;
  if (r.rejected.length === 0) return base;
  const shown = r.rejected.slice(0, 3).map((x) => `${x.proxy}: ${x.message}`);
  const more = r.rejected.length > shown.length ? `; and ${r.rejected.length - shown.length} more` : '';
  return `${base} ${r.rejected.length} rejected it: ${shown.join('; ')}${more}`;
}
