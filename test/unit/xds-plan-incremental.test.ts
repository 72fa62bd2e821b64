// Once a client is in sync with a desired map, TypeState plans the next map from the names that
// differ between the two (desired-diff.ts) instead of walking every name. Random sequences of
// pushes (mostly small edits of the previous map, as an endpoint change is), subscriptions
// (wildcard and named, state of the world and delta), sends, ACKs, NACKs, forced resends and
// kept removals: every plan the TypeState gives must equal the full computation for the same
// state, whichever way it was made.
import { jest } from '@jest/globals';
import { changedNames } from '../../src/xds/desired-diff.js';
import { EncodedResource } from '../../src/xds/encoded-resource.js';
import { TypeState, type Plan } from '../../src/xds/type-state.js';
import { SHORT_NAME, TypeUrl } from '../../src/xds/types.js';

type Desired = ReadonlyMap<string, EncodedResource> | undefined;

/** The private parts the test compares against (computePlan is pure: it reads state only). */
interface Internals {
  computePlan(desired: Desired, keepRemoved: boolean): Plan | undefined;
  planFrom(insync: Desired, desired: Desired, keepRemoved: boolean): Plan | undefined;
}
const internals = (st: TypeState) => st as unknown as Internals;

/** xorshift32: deterministic, so a failure replays from its seed. */
function random(seed: number): () => number {
  let x = seed * 2654435761 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const NAMES = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];

const res = (type: TypeUrl, name: string, v: number) => new EncodedResource(type, name, Buffer.from(`${name}:${v}`));

/** A plan as sets: the order of resources within one response is not significant. */
const asSets = (p: Plan | undefined) =>
  p && { full: p.full, resources: p.resources.map((r) => `${r.name}@${r.version}`).sort(), removed: [...p.removed].sort(), changed: [...p.changed].sort() };

describe('changedNames', () => {
  const m = (entries: [string, number][]) => new Map(entries.map(([n, v]) => [n, res(TypeUrl.Cluster, n, v)]));

  test('lists the names added, removed and changed in version, and nothing for equal content', () => {
    const prev = m([['a', 1], ['b', 1], ['c', 1]]);
    expect([...changedNames(prev, m([['a', 1], ['b', 2], ['d', 1]]))].sort()).toEqual(['b', 'c', 'd']);
    expect(changedNames(prev, m([['c', 1], ['b', 1], ['a', 1]]))).toEqual([]);
    expect(changedNames(prev, prev)).toEqual([]);
  });

  test('is computed once per pair of maps', () => {
    const prev = m([['a', 1]]);
    const next = m([['a', 2]]);
    expect(changedNames(prev, next)).toBe(changedNames(prev, next));
  });
});

test('a forced resend sends the desired resource, never the copy a client keeps until routes move off it', () => {
  const st = new TypeState(TypeUrl.Endpoint, false);
  const x = res(TypeUrl.Endpoint, 'x', 1);
  st.subscribeSotw(['x'], true);
  const deliver = (desired: Desired, keepRemoved: boolean) => {
    const plan = st.plan(desired, keepRemoved);
    if (plan) st.sent(plan, 'n', 'v');
    st.ack();
    return plan && plan.resources.map((r) => `${r.name}@${r.version}`);
  };
  expect(deliver(new Map([['x', x]]), false)).toEqual([`x@${x.version}`]);
  // Envoy re-created cluster x (updated in place): its endpoints go again while desired.
  st.resend(['x']);
  expect(deliver(new Map([['x', x]]), true)).toEqual([`x@${x.version}`]);
  // x is gone from the desired state but kept while a route may still use it: nothing to send.
  st.resend(['x']);
  expect(deliver(new Map(), true)).toBeUndefined();
});

// Cluster: wildcard or named, a full list per state-of-the-world response; Endpoint: named only.
const VARIANTS = [false, true].flatMap((delta) => [TypeUrl.Cluster, TypeUrl.Endpoint].map((type) => [`${delta ? 'delta' : 'state of the world'}, ${SHORT_NAME[type]}`, type, delta] as const));

describe.each(VARIANTS)('%s', (_label, type, delta) => {
  test('every plan equals the full computation, over 500 random sequences', () => {
    const planFrom = jest.spyOn(TypeState.prototype as unknown as Internals, 'planFrom');
    for (let seed = 1; seed <= 500; seed++) {
      const rand = random(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
      const some = (p = 0.5) => NAMES.filter(() => rand() < p);
      const st = new TypeState(type, delta);
      let desired: Desired = new Map(NAMES.slice(0, 4).map((n) => [n, res(type, n, 0)]));
      const earlier: ReadonlyMap<string, EncodedResource>[] = [];
      let first = true;
      const log: string[] = [];
      const check = (keepRemoved: boolean) => {
        const plan = st.plan(desired, keepRemoved);
        expect({ seed, log, keepRemoved, plan: asSets(plan) }).toEqual({ seed, log, keepRemoved, plan: asSets(internals(st).computePlan(desired, keepRemoved)) });
        return plan;
      };
      for (let step = 0; step < 60; step++) {
        const op = pick(['subscribe', 'push', 'push', 'push', 'push', 'send', 'send', 'send', 'ack', 'ack', 'ack', 'nack', 'resend']);
        log.push(op);
        if (op === 'subscribe') {
          const names = rand() < 0.25 ? ['*'] : some();
          const unsubscribe = first ? [] : some(0.2);
          const initial = first && rand() < 0.5 ? Object.fromEntries(some().map((n) => [n, res(type, n, Math.floor(rand() * 3)).version])) : {};
          if (delta) st.subscribeDelta(names, unsubscribe, first, initial);
          else st.subscribeSotw(names, first);
          first = false;
        } else if (op === 'push') {
          // Mostly one resource added, changed or removed (an endpoint change); sometimes a new
          // map, an earlier map again, or none.
          const r = rand();
          if (r < 0.7 && desired) {
            const next: Map<string, EncodedResource> = new Map(desired);
            const n = pick(NAMES);
            if (rand() < 0.2) next.delete(n);
            else next.set(n, res(type, n, Math.floor(rand() * 4)));
            desired = next;
          } else if (r < 0.85 && earlier.length > 0) desired = pick(earlier);
          else if (r < 0.9) desired = undefined;
          else desired = new Map(some().map((n) => [n, res(type, n, Math.floor(rand() * 4))]));
          if (desired) earlier.push(desired);
          st.forgetStaleRejections(desired);
        } else if (op === 'send') {
          if (st.inflight) continue;
          // As a stream does: both slots are asked (make-before-break), one is sent.
          const keepRemoved = rand() < 0.3;
          if (rand() < 0.5) check(!keepRemoved);
          const plan = check(keepRemoved);
          if (plan) st.sent(plan, `n${step}`, 'v');
        } else if (op === 'ack') {
          st.ack();
        } else if (op === 'nack') {
          st.nack(rand() < 0.5 ? `resource ${pick(NAMES)} is invalid` : 'rejected');
        } else {
          st.resend(some(0.3));
        }
        // Not after every operation: a check plans, and a plan found empty is itself a sync point.
        if (rand() < 0.3) for (const keepRemoved of [false, true]) check(keepRemoved);
      }
    }
    // The fast path must have been taken often, with something to send, or this proves nothing.
    expect(planFrom.mock.calls.length).toBeGreaterThan(1000);
    expect(planFrom.mock.results.filter((r) => r.value !== undefined).length).toBeGreaterThan(300);
    planFrom.mockRestore();
  });
});
