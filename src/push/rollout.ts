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

/**
 * The connected proxies as one rollout pass sees them: for each set of types objects concern,
 * the model version every proxy holds all of, computed once for every object, and sorted, so an
 * object that reaches every proxy counts its up-to-date ones by a binary search. Computing it
 * per object and proxy cost 250 ms a pass at 1,000 proxies and 200 objects, once a second
 * while proxies sync, and as much again for each status written (BENCHMARKS.md).
 */
export class RolloutView {
  private readonly held = new Map<string, { each: Float64Array; sorted: Float64Array }>();
  /** Indices of the proxies under some rejection: the only ones a rejection can count for. */
  private readonly rejecting = new Set<number>();

  constructor(
    readonly proxies: readonly RolloutProxy[],
    readonly mesh: Mesh,
  ) {
    proxies.forEach((p, i) => {
      if (ALL_TYPES.some((t) => p.rejected(t) !== undefined)) this.rejecting.add(i);
    });
  }

  /** The rollout of an object whose current generation entered the model at `epoch`. */
  rollout(change: ChangeSet, epoch: number, rootNamespace: string): Rollout {
    const push = pushFor(change, this.proxies, rootNamespace, !this.mesh.sidecars().empty);
    const skipped = outsideSidecarScopes(change, this.mesh, this.proxies);
    const types = push.types ? ([...push.types] as TypeUrl[]) : ALL_TYPES;
    const held = this.heldOf(types);
    const rejectionAt = (i: number): RejectedEpochs | undefined => {
      const p = this.proxies[i];
      for (const t of types) {
        const r = p.rejected(t);
        if (r !== undefined && r.after < epoch && epoch <= r.through) return r;
      }
      return undefined;
    };
    const rejected: Array<{ proxy: string; message: string }> = [];
    if (!push.proxies && skipped.size === 0) {
      let upToDate = held.sorted.length - firstAtLeast(held.sorted, epoch);
      for (const i of this.rejecting) {
        const r = rejectionAt(i);
        if (!r) continue;
        rejected.push({ proxy: this.proxies[i].id, message: r.message });
        if (held.each[i] >= epoch) upToDate--;
      }
      return { reached: this.proxies.length, upToDate, rejected };
    }
    const wanted = push.proxies ? new Set(push.proxies) : undefined;
    let reached = 0;
    let upToDate = 0;
    this.proxies.forEach((p, i) => {
      if ((wanted && !wanted.has(p.id)) || skipped.has(p.id)) return;
      reached++;
      const r = this.rejecting.has(i) ? rejectionAt(i) : undefined;
      if (r) rejected.push({ proxy: p.id, message: r.message });
      else if (held.each[i] >= epoch) upToDate++;
    });
    return { reached, upToDate, rejected };
  }

  private heldOf(types: readonly TypeUrl[]): { each: Float64Array; sorted: Float64Array } {
    const key = types.join(' ');
    let found = this.held.get(key);
    if (!found) {
      const each = Float64Array.from(this.proxies, (p) => Math.min(...types.map((t) => p.syncedEpoch(t))));
      found = { each, sorted: Float64Array.from(each).sort() };
      this.held.set(key, found);
    }
    return found;
  }
}

/** The index of the first value ≥ `x` in ascending `sorted` (its length if none). */
function firstAtLeast(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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

  /** The model version the object's current generation entered at (undefined: not tracked). */
  epochOf(kind: string, namespace: string, name: string): number | undefined {
    return this.objects.get(keyOf(kind, namespace, name))?.epoch;
  }

  /** The rollout of an object's current generation to the proxies of `view`. */
  rollout(kind: string, namespace: string, name: string, view: RolloutView): Rollout | undefined {
    const tracked = this.objects.get(keyOf(kind, namespace, name));
    if (!tracked) return undefined;
    return view.rollout(asChange(tracked.config), tracked.epoch, this.rootNamespace);
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
