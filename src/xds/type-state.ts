// One resource type on one stream: what the client subscribed to, what it has (per ACK), what
// is in flight, and what it rejected. `plan` compares that with what the proxy should have and
// says what to send; it is the same logic for state of the world and delta, only the response
// shape differs.
//
// A plan is decided name by name (`targetOf`), and a name's part depends on the desired map only
// through that name's entry. So once the client is known to be in sync with a desired map D (a
// plan for D came out empty, or the plan sent for D was ACKed, and nothing changed since), the
// plan for the next map only has to look at the names whose version differs between D and it
// (desired-diff.ts, computed once per pair of shared maps): an endpoint change of one service
// costs each proxy one name, not every name it holds. Anything else falls back to `computePlan`,
// which walks every name.
import { changedNames, type DesiredMap } from './desired-diff.js';
import type { EncodedResource } from './encoded-resource.js';
import { HeldMap, type Held } from './held.js';
import { rejectedResources } from './rejection.js';
import { Subscription, type SubscriptionChange } from './subscription.js';
import { isWildcardType, type TypeUrl } from './types.js';

export type { Held } from './held.js';

export interface Plan {
  /** State of the world for Listener/Cluster: the response replaces the client's whole set. */
  readonly full: boolean;
  readonly resources: readonly EncodedResource[];
  /** Delta only: names to remove (gone, or subscribed but not existing). */
  readonly removed: readonly string[];
  /** Names whose content is new to the client in this response (a NACK is about these). */
  readonly changed: ReadonlySet<string>;
}

export interface Sent extends Plan {
  readonly nonce: string;
  readonly version: string;
  readonly retry: boolean;
  /** When the earliest push this response carries started (performance.now()). */
  readonly pushStartedAt: number | undefined;
  readonly reason: string;
}

export interface Rejection {
  readonly version: string;
  readonly message: string;
}

export class TypeState {
  readonly sub: Subscription;
  /** What the client holds (per ACK); shares the desired map it was last in sync with. */
  readonly has = new HeldMap();
  /** Delta: names the client was told do not exist (and ACKed). */
  private readonly absent = new Set<string>();
  /** Delta: names unsubscribed under a wildcard, which must be answered (resource or removal). */
  private readonly mustAnswer = new Set<string>();
  readonly rejected = new Map<string, Rejection>();
  /** Names to send again even if the client has them (see resend). */
  private readonly forced = new Set<string>();
  inflight: Sent | undefined;
  lastNonce: string | undefined;
  ackedVersion = '';
  private needsResponse = false;
  private retryNext = false;
  private pendingSince: number | undefined;
  private pendingReason: string | undefined;
  private seenRequest = false;
  /** Bumped by every change that can alter a plan; plans are memoised on it. */
  private rev = 0;
  private readonly memo: Array<{ desired: DesiredMap | undefined; rev: number; plan: Plan | undefined } | undefined> = [undefined, undefined];
  /**
   * Per memo slot (keepRemoved false, true): the latest desired map for which nothing was due at
   * `rev`. While `rev` is current, every name's part of that plan is empty, so a plan for another
   * map need only look at the names that differ (see the top of this file). A non-empty plan
   * does not clear it: the client is still in sync with that map until something changes.
   */
  private readonly synced: Array<{ desired: DesiredMap; rev: number } | undefined> = [undefined, undefined];
  /** Which memo slot and desired state the in-flight response was planned from. */
  private sentFrom: { slot: number; desired: DesiredMap | undefined; rev: number } | undefined;

  constructor(
    readonly typeUrl: TypeUrl,
    readonly delta: boolean,
  ) {
    this.sub = new Subscription(isWildcardType(typeUrl));
  }

  /** State of the world with Listener/Cluster: every response lists everything subscribed. */
  get fullState(): boolean {
    return !this.delta && isWildcardType(this.typeUrl);
  }

  /** True once, for the first request of this type on the stream. */
  firstRequest(): boolean {
    const first = !this.seenRequest;
    this.seenRequest = true;
    return first;
  }

  /** `canonical`: the copy of a name to keep (see Subscription.replace). */
  subscribeSotw(names: readonly string[], first: boolean, canonical?: (name: string) => string): void {
    const change = this.sub.replace(names, canonical);
    const changed = first || isChange(change);
    // Every ACK repeats the names: only a real change invalidates the memoised plans.
    if (!changed) return;
    this.rev++;
    this.applyChange(change);
    // Listener/Cluster responses list the whole subscribed set: a new subscription is answered
    // even when nothing is new (Envoy waits for its first CDS/LDS response to finish starting).
    if (this.fullState && changed) this.needsResponse = true;
  }

  subscribeDelta(subscribe: readonly string[], unsubscribe: readonly string[], first: boolean, initialVersions: Readonly<Record<string, string>>, canonical?: (name: string) => string): void {
    const change = this.sub.apply(subscribe, unsubscribe, first, canonical);
    // A delta ACK carries no names: only a real change invalidates the memoised plans.
    if (!first && !isChange(change)) return;
    this.rev++;
    this.applyChange(change);
    if (first) {
      // A reconnecting client says what it already has: do not send those again if unchanged.
      for (const [name, version] of Object.entries(initialVersions)) this.has.set(canonical?.(name) ?? name, { version });
      if (this.sub.wildcard) this.needsResponse = true;
    }
  }

  private applyChange(change: SubscriptionChange): void {
    if (change.wildcardAdded) this.has.clear();
    for (const n of change.added) {
      this.has.delete(n);
      this.absent.delete(n);
    }
    for (const n of change.removed) {
      this.has.delete(n);
      this.absent.delete(n);
      if (this.delta && this.sub.wildcard) this.mustAnswer.add(n);
    }
    if (change.wildcardRemoved) for (const n of [...this.has.keys()]) if (!this.sub.names.has(n)) this.has.delete(n);
  }

  /** A push changed what the proxy should have. */
  markPending(reason: string, startedAt: number): void {
    if (this.pendingSince === undefined || startedAt < this.pendingSince) this.pendingSince = startedAt;
    this.pendingReason = reason;
  }

  /**
   * What to send now, or undefined when the client is up to date. `keepRemoved`: resources the
   * client has but should no longer have stay for now (make-before-break: clusters are removed
   * only once no route uses them). A resource the client rejected is not sent again until its
   * content changes; the client keeps its previous version.
   */
  plan(desired: DesiredMap | undefined, keepRemoved: boolean): Plan | undefined {
    const slot = keepRemoved ? 1 : 0;
    const m = this.memo[slot];
    if (m && m.desired === desired && m.rev === this.rev) return m.plan;
    const from = this.synced[slot];
    const plan = from && from.rev === this.rev && desired ? this.planFrom(from.desired, desired, keepRemoved) : this.computePlan(desired, keepRemoved);
    this.remember(slot, desired, plan);
    return plan;
  }

  /** Memoises a plan; an empty one also says the client is in sync with `desired`. */
  private remember(slot: number, desired: DesiredMap | undefined, plan: Plan | undefined): void {
    this.memo[slot] = { desired, rev: this.rev, plan };
    if (!plan && desired) this.synced[slot] = { desired, rev: this.rev };
  }

  /**
   * What the client should hold of `name` for this desired state: the desired resource if in
   * scope (subscribed by name, or under the wildcard), its held version instead if the client
   * rejected that content, and with `keepRemoved` whatever it holds. Depends on `desired` only
   * through `desired.get(name)`'s presence and version: the fast plan relies on that.
   */
  private targetOf(name: string, desired: DesiredMap | undefined, keepRemoved: boolean): Held | undefined {
    let r: Held | undefined = this.sub.names.has(name) || this.sub.wildcard ? desired?.get(name) : undefined;
    if (r && this.rejected.get(name)?.version === r.version) r = this.has.get(name);
    if (!r && keepRemoved) r = this.has.get(name);
    return r;
  }

  /**
   * Whether `target` is new to the client, or must be sent again (resend). A forced resend is of
   * the desired resource only: the client's own copy (kept for make-before-break, or in place of
   * content it rejected) is never sent back, as the bytes may not even be known (a delta
   * client's initial versions).
   */
  private isDue(name: string, target: Held, desired: DesiredMap | undefined): boolean {
    return this.has.get(name)?.version !== target.version || (this.forced.has(name) && target === desired?.get(name));
  }

  /** Delta: whether a name without a target must be answered with a removal. */
  private mustRemove(name: string): boolean {
    return this.has.has(name) || (this.sub.names.has(name) && !this.absent.has(name)) || this.mustAnswer.has(name);
  }

  private computePlan(desired: DesiredMap | undefined, keepRemoved: boolean): Plan | undefined {
    const target = new Map<string, Held>();
    const consider = (name: string): void => {
      const r = this.targetOf(name, desired, keepRemoved);
      if (r) target.set(name, r);
    };
    if (this.sub.wildcard && desired) for (const name of desired.keys()) consider(name);
    for (const name of this.sub.names) if (!target.has(name)) consider(name);
    if (keepRemoved) for (const [name, held] of this.has) if (!target.has(name)) target.set(name, held);

    const changed = new Set<string>();
    for (const [name, r] of target) if (this.isDue(name, r, desired)) changed.add(name);
    const removedFromClient = [...this.has.keys()].filter((n) => !target.has(n));
    // Changed entries always come from `desired`, so they are EncodedResources.
    const changedResources = (): EncodedResource[] => [...changed].map((n) => target.get(n) as EncodedResource);

    if (!this.delta) {
      if (this.fullState) {
        if (changed.size === 0 && removedFromClient.length === 0 && !this.needsResponse) return undefined;
        return { full: true, resources: [...target.values()].filter(isEncoded), removed: [], changed };
      }
      return changed.size === 0 ? undefined : { full: false, resources: changedResources(), removed: [], changed };
    }
    const removed = new Set(removedFromClient);
    for (const name of this.sub.names) if (!target.has(name) && !this.absent.has(name)) removed.add(name);
    for (const name of this.mustAnswer) if (!target.has(name)) removed.add(name);
    if (changed.size === 0 && removed.size === 0 && !this.needsResponse) return undefined;
    return { full: false, resources: changedResources(), removed: [...removed], changed };
  }

  /**
   * computePlan's answer for `desired`, given that nothing is due for `insync` in the current
   * state. A name whose entry is the same in both maps has the same target in both (targetOf), so
   * it is as settled for `desired` as it was for `insync`: only the names that differ are looked
   * at. State of the world for Listener/Cluster must still list everything: the client holds
   * exactly the targets of `insync` then (nothing changed, nothing to remove), so the list is
   * what it holds with the differing names replaced, and no name is compared.
   */
  private planFrom(insync: DesiredMap, desired: DesiredMap, keepRemoved: boolean): Plan | undefined {
    const names = changedNames(insync, desired);
    const changed = new Set<string>();
    const targets: Held[] = [];
    const removed: string[] = [];
    for (const name of names) {
      const r = this.targetOf(name, desired, keepRemoved);
      if (r) {
        if (this.fullState) targets.push(r);
        if (this.isDue(name, r, desired)) {
          changed.add(name);
          if (!this.fullState) targets.push(r);
        }
      } else if (this.delta ? this.mustRemove(name) : this.has.has(name)) removed.push(name);
    }
    // Changed entries always come from `desired`, so they are EncodedResources (as computePlan).
    const resources = targets as EncodedResource[];
    if (!this.delta) {
      if (this.fullState) {
        if (changed.size === 0 && removed.length === 0 && !this.needsResponse) return undefined;
        const differs = new Set(names);
        const all: EncodedResource[] = [];
        for (const [name, held] of this.has) if (!differs.has(name) && isEncoded(held)) all.push(held);
        for (const r of targets) if (isEncoded(r)) all.push(r);
        return { full: true, resources: all, removed: [], changed };
      }
      return changed.size === 0 ? undefined : { full: false, resources, removed: [], changed };
    }
    if (changed.size === 0 && removed.length === 0 && !this.needsResponse) return undefined;
    return { full: false, resources, removed, changed };
  }

  /**
   * Sends these again even though the client has them: Envoy re-creates an EDS cluster that is
   * updated in place, and the new cluster waits (initial fetch timeout, no endpoints) for an
   * EDS response that an unchanged assignment would never trigger.
   */
  resend(names: Iterable<string>): void {
    // Kept apart from `has`: the ACK of a response in flight would put them back there.
    for (const n of names) this.forced.add(n);
    this.rev++;
  }

  /** Records a response as sent; returns it. */
  sent(plan: Plan, nonce: string, version: string): Sent {
    // The memo the plan came from: once ACKed, nothing else of that desired state is due.
    const slot = this.memo.findIndex((m) => m?.plan === plan);
    this.rev++;
    this.sentFrom = slot >= 0 ? { slot, desired: this.memo[slot]?.desired, rev: this.rev } : undefined;
    // Fields listed rather than spread: one object shape on the hot path.
    const s: Sent = {
      full: plan.full,
      resources: plan.resources,
      removed: plan.removed,
      changed: plan.changed,
      nonce,
      version,
      retry: this.retryNext,
      pushStartedAt: this.pendingSince,
      reason: this.pendingReason ?? (this.retryNext ? 'retry' : 'request'),
    };
    for (const r of plan.resources) this.forced.delete(r.name);
    this.inflight = s;
    this.lastNonce = nonce;
    this.needsResponse = false;
    this.retryNext = false;
    this.pendingSince = undefined;
    this.pendingReason = undefined;
    this.mustAnswer.clear();
    return s;
  }

  /** The client accepted the in-flight response. */
  ack(): Sent | undefined {
    // Whether anything but this ACK changed the state since the response was planned.
    const from = this.sentFrom?.rev === this.rev ? this.sentFrom : undefined;
    this.sentFrom = undefined;
    this.rev++;
    const s = this.inflight;
    if (!s) return undefined;
    this.inflight = undefined;
    this.ackedVersion = s.version;
    if (s.full) this.has.clear();
    for (const r of s.resources) {
      if (s.full || this.sub.includes(r.name, true)) this.has.set(r.name, r);
      this.absent.delete(r.name);
    }
    this.applyRemovals(s);
    // Nothing changed since the plan but its ACK: the client now has what the plan targeted, so
    // the same desired state plans nothing (saves recomputing a plan over every name per ACK).
    // A plan without kept removals (slot 0) also leaves nothing for the slot that keeps them;
    // the reverse does not hold (the kept resources are still to be removed).
    if (from) for (const slot of from.slot === 0 ? [0, 1] : [1]) this.remember(slot, from.desired, undefined);
    // What it holds is then (mostly) that desired map, which proxies of its scope share.
    if (from?.desired) this.has.rebase(from.desired);
    return s;
  }

  /**
   * The client rejected the in-flight response: it stays on what it had. Returns the names now
   * held back. Other changes of that response are sent again by the next plan (once).
   */
  nack(message: string): { sent: Sent; rejected: string[] } | undefined {
    this.rev++;
    const s = this.inflight;
    if (!s) return undefined;
    this.inflight = undefined;
    const rejected = rejectedResources(s.changed, message, s.retry);
    for (const r of s.resources) if (rejected.has(r.name)) this.rejected.set(r.name, { version: r.version, message });
    if (rejected.size < s.changed.size) this.retryNext = true;
    // Clients apply removals regardless of a bad resource beside them (and never re-sending a
    // removal keeps NACKs from looping).
    this.applyRemovals(s);
    return { sent: s, rejected: [...rejected] };
  }

  private applyRemovals(s: Sent): void {
    if (s.full) {
      const kept = new Set(s.resources.map((r) => r.name));
      for (const n of [...this.has.keys()]) if (!kept.has(n)) this.has.delete(n);
    }
    for (const n of s.removed) {
      this.has.delete(n);
      if (this.sub.names.has(n)) this.absent.add(n);
    }
  }

  /** Drops rejections of content that is no longer wanted (a new version gets its chance). */
  forgetStaleRejections(desired: DesiredMap | undefined): void {
    // Runs for every stream on every push: invalidate the memoised plans only if a rejection went.
    for (const [name, rej] of this.rejected) {
      if (desired?.get(name)?.version !== rej.version) {
        this.rejected.delete(name);
        this.rev++;
      }
    }
  }
}

function isChange(c: SubscriptionChange): boolean {
  return c.added.length > 0 || c.removed.length > 0 || c.wildcardAdded || c.wildcardRemoved;
}

function isEncoded(h: Held): h is EncodedResource {
  return 'any' in h;
}
