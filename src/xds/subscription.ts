// What a client subscribed to for one resource type on one stream, per the xDS protocol's rules
// for wildcard ("*", or the legacy empty first request for Listener and Cluster) and named
// subscriptions, in both the state-of-the-world and the delta variants.

export interface SubscriptionChange {
  /** Names newly subscribed: the server must send them even if the client had them before. */
  readonly added: readonly string[];
  /** Names no longer subscribed: the client forgets them. */
  readonly removed: readonly string[];
  readonly wildcardAdded: boolean;
  readonly wildcardRemoved: boolean;
}

const NONE: SubscriptionChange = { added: [], removed: [], wildcardAdded: false, wildcardRemoved: false };

const same = (name: string): string => name;

export class Subscription {
  private wild = false;
  private readonly set = new Set<string>();
  /** The last state-of-the-world list, as sent: an ACK usually repeats it in the same order. */
  private lastList: readonly string[] = [];
  private lastRequest: readonly string[] | undefined;
  /** Once a name (or "*") was subscribed explicitly, an empty list no longer means wildcard. */
  private explicit = false;

  /** `legacyWildcard`: an empty first subscription means "*" (Listener and Cluster only). */
  constructor(private readonly legacyWildcard: boolean) {}

  get wildcard(): boolean {
    return this.wild;
  }

  get names(): ReadonlySet<string> {
    return this.set;
  }

  /** Whether `name` is in scope; `existsInWildcard`: the server would list it under "*". */
  includes(name: string, existsInWildcard: boolean): boolean {
    return this.set.has(name) || (this.wild && existsInWildcard);
  }

  /**
   * State of the world: every request carries the complete list of names. `canonical` gives the
   * copy of a name to keep: each request decodes its own strings, and a thousand clients
   * subscribed to the same thousand names would otherwise hold a thousand copies of each.
   */
  replace(list: readonly string[], canonical: (name: string) => string = same): SubscriptionChange {
    if (!this.explicit && list.length === 0) {
      if (!this.legacyWildcard || this.wild) return NONE;
      this.wild = true;
      return { ...NONE, wildcardAdded: true };
    }
    this.explicit = true;
    // The very list of the last request: the decoder shares the list of identical bytes
    // (wire.ts), so most ACKs of a large SotW subscription end here.
    if (list === this.lastRequest) return NONE;
    this.lastRequest = list;
    // An ACK repeats the list: the one kept (the same names) stays, the request's copy goes.
    if (sameList(list, this.lastList)) return NONE;
    if (this.unchanged(list)) {
      this.lastList = list.map(canonical);
      return NONE;
    }
    const kept = list.map(canonical);
    this.lastList = kept;
    const next = new Set(kept.filter((n) => n !== '*'));
    const wild = list.includes('*');
    const added = [...next].filter((n) => !this.set.has(n));
    const removed = [...this.set].filter((n) => !next.has(n));
    const change = { added, removed, wildcardAdded: wild && !this.wild, wildcardRemoved: !wild && this.wild };
    this.wild = wild;
    this.set.clear();
    for (const n of next) this.set.add(n);
    return change;
  }

  /** The same names in another order (or repeated), without allocating. */
  private unchanged(list: readonly string[]): boolean {
    let star = false;
    let names = 0;
    for (const n of list) {
      if (n === '*') star = true;
      else if (this.set.has(n)) names++;
      else return false;
    }
    return star === this.wild && names === this.set.size && names + (star ? 1 : 0) === list.length;
  }

  /** Delta: requests carry only what to add and remove. `first`: the stream's first request for the type. */
  apply(subscribe: readonly string[], unsubscribe: readonly string[], first: boolean, canonical: (name: string) => string = same): SubscriptionChange {
    let wildcardAdded = false;
    let wildcardRemoved = false;
    if (first && subscribe.length === 0 && unsubscribe.length === 0 && this.legacyWildcard) {
      this.wild = true;
      return { ...NONE, wildcardAdded: true };
    }
    if (subscribe.length > 0) this.explicit = true;
    const added: string[] = [];
    const removed: string[] = [];
    for (const n of subscribe) {
      if (n === '*') {
        wildcardAdded ||= !this.wild;
        this.wild = true;
      } else if (!this.set.has(n)) {
        const kept = canonical(n);
        this.set.add(kept);
        added.push(kept);
      } else {
        // Already subscribed: the client may have forgotten it; it must be sent again.
        added.push(n);
      }
    }
    for (const n of unsubscribe) {
      if (n === '*') {
        wildcardRemoved ||= this.wild;
        this.wild = false;
      } else if (this.set.delete(n)) {
        removed.push(n);
      }
    }
    return { added, removed, wildcardAdded, wildcardRemoved };
  }
}

/**
 * Whether two lists hold the same strings in the same order. Comparing strings one by one is
 * much cheaper than hashing each (freshly decoded) name for a set lookup, and a client repeats
 * its list, in its order, in every ACK: 1,000 EDS names per ACK for a proxy of a large mesh.
 */
function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
