// What one client holds of one resource type, name → version (and bytes). A client in sync holds
// exactly the desired map the server shares between every proxy of its scope, so instead of a
// copy per client this keeps that shared map as its base and records only where the client
// differs from it: entries of its own, and names of the base it does not hold. A thousand
// clients of one scope then cost one map, not a thousand copies of it.
import { changedNames, type DesiredMap } from './desired-diff.js';

/** What the client holds of a resource: its version (and the bytes, when we sent them). */
export interface Held {
  readonly version: string;
}

export class HeldMap {
  private base: DesiredMap | undefined;
  /** Entries that override the base (or all entries, without a base). */
  private own = new Map<string, Held>();
  /** Names of the base the client does not hold. Disjoint from `own`. */
  private lacks = new Set<string>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Entries this client keeps of its own (where it differs from the shared map, or all without one). */
  get exceptions(): number {
    return this.own.size + this.lacks.size;
  }

  get(name: string): Held | undefined {
    const mine = this.own.get(name);
    if (mine !== undefined || this.base === undefined || this.lacks.has(name)) return mine;
    return this.base.get(name);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  set(name: string, held: Held): void {
    if (!this.has(name)) this.count++;
    this.lacks.delete(name);
    if (this.base !== undefined && this.base.get(name) === held) this.own.delete(name);
    else this.own.set(name, held);
  }

  delete(name: string): void {
    if (!this.has(name)) return;
    this.count--;
    this.own.delete(name);
    if (this.base?.has(name)) this.lacks.add(name);
  }

  clear(): void {
    this.base = undefined;
    this.own = new Map();
    this.lacks = new Set();
    this.count = 0;
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this) yield name;
  }

  *[Symbol.iterator](): IterableIterator<[string, Held]> {
    yield* this.own;
    if (this.base === undefined) return;
    for (const entry of this.base) if (!this.own.has(entry[0]) && !this.lacks.has(entry[0])) yield entry;
  }

  /**
   * Takes `next` as the base, holding the same entries as before (an entry whose version is
   * unchanged may now be the base's object: same version, same bytes). From another base the cost
   * is the names that differ between the two maps (computed once for all clients), not the map's
   * size; the first time it is a walk of both. A client that holds little of `next` keeps no base.
   */
  rebase(next: DesiredMap): void {
    if (this.base === next) return;
    if (this.base === undefined) {
      // A client holding less than half the map (a few names of many) keeps its own copy, and
      // is not walked again on every ACK to find that out.
      if (this.own.size < next.size / 2) return;
      const own = new Map<string, Held>();
      for (const [name, held] of this.own) if (next.get(name) !== held) own.set(name, held);
      const lacks = new Set<string>();
      for (const name of next.keys()) if (!this.own.has(name)) lacks.add(name);
      // Mostly not the shared map: a copy of its own is smaller than a base with exceptions.
      if (own.size + lacks.size > next.size / 2) return;
      this.own = own;
      this.lacks = lacks;
      this.base = next;
      return;
    }
    const names = changedNames(this.base, next);
    const now = names.map((name) => this.get(name));
    this.base = next;
    names.forEach((name, i) => {
      const held = now[i];
      const inBase = next.get(name);
      if (held === undefined) {
        this.own.delete(name);
        if (inBase !== undefined) this.lacks.add(name);
        else this.lacks.delete(name);
      } else {
        this.lacks.delete(name);
        if (inBase === held) this.own.delete(name);
        else this.own.set(name, held);
      }
    });
  }
}
