// TypeState memoises plans, and after an ACK it records that the same desired state plans
// nothing more. Random sequences of subscriptions, pushes, sends, ACKs and NACKs run on two
// TypeStates side by side; the second forgets its memo before every plan. Every plan must be
// the same: the shortcut may save work, never change what is sent.
import { EncodedResource } from '../../src/xds/encoded-resource.js';
import { TypeState, type Plan } from '../../src/xds/type-state.js';
import { TypeUrl } from '../../src/xds/types.js';

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['a', 'b', 'c', 'd', 'e'];

function resource(type: TypeUrl, name: string, v: number): EncodedResource {
  return new EncodedResource(type, name, Buffer.from(`${name}:${v}`));
}

const shape = (p: Plan | undefined) => p && { full: p.full, resources: p.resources.map((r) => `${r.name}@${r.version}`).sort(), removed: [...p.removed].sort(), changed: [...p.changed].sort() };

function forget(st: TypeState): void {
  (st as unknown as { rev: number }).rev++;
}

describe.each([
  ['state of the world, Cluster (full state)', TypeUrl.Cluster, false],
  ['state of the world, Endpoint (named)', TypeUrl.Endpoint, false],
  ['delta, Cluster', TypeUrl.Cluster, true],
  ['delta, Endpoint', TypeUrl.Endpoint, true],
] as const)('%s', (_label, type, delta) => {
  test('plans with the ACK shortcut equal plans computed afresh, over 300 random sequences', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = rng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
      const some = () => NAMES.filter(() => rand() < 0.5);
      const a = new TypeState(type, delta);
      const b = new TypeState(type, delta);
      const both = (f: (st: TypeState) => void) => [a, b].forEach(f);
      let desired: Map<string, EncodedResource> | undefined = new Map<string, EncodedResource>();
      const earlier: Map<string, EncodedResource>[] = [];
      let first = true;
      const log: string[] = [];
      for (let step = 0; step < 40; step++) {
        const op = pick(['subscribe', 'push', 'send', 'send', 'ack', 'ack', 'nack']);
        log.push(op);
        if (op === 'subscribe') {
          const names = rand() < 0.2 ? ['*'] : some();
          const unsubscribe = first ? [] : some().filter(() => rand() < 0.3);
          // A reconnecting delta client may say what it already has.
          const initial = first ? Object.fromEntries(some().map((n) => [n, resource(type, n, Math.floor(rand() * 3)).version])) : {};
          // A state-of-the-world ACK may repeat its names in another order.
          const listed = rand() < 0.3 ? [...names].reverse() : names;
          if (delta) both((st) => st.subscribeDelta(names, unsubscribe, first, initial));
          else both((st) => st.subscribeSotw(listed, first));
          first = false;
        } else if (op === 'push') {
          // A new map, an earlier one again (what makes memoised plans hit), or none at all.
          const r = rand();
          desired = r < 0.2 && earlier.length > 0 ? pick(earlier) : r < 0.25 ? undefined : new Map(some().map((n) => [n, resource(type, n, Math.floor(rand() * 3))]));
          if (desired) earlier.push(desired);
          both((st) => st.forgetStaleRejections(desired));
        } else if (op === 'send') {
          if (a.inflight) continue;
          const keepRemoved = rand() < 0.3;
          forget(b);
          const pa = a.plan(desired, keepRemoved);
          const pb = b.plan(desired, keepRemoved);
          expect({ seed, log, plan: shape(pa) }).toEqual({ seed, log, plan: shape(pb) });
          if (pa && pb) {
            a.sent(pa, `n${step}`, 'v');
            b.sent(pb, `n${step}`, 'v');
          }
        } else if (op === 'ack') {
          both((st) => st.ack());
        } else {
          // A NACK naming one resource (only it is held back; the rest is retried), or none.
          const message = rand() < 0.5 ? `resource ${pick(NAMES)} is invalid` : 'rejected';
          both((st) => st.nack(message));
        }
        // After every operation, both agree on what is due (b recomputing from scratch).
        for (const keepRemoved of [false, true]) {
          forget(b);
          expect({ seed, log, keepRemoved, plan: shape(a.plan(desired, keepRemoved)) }).toEqual({ seed, log, keepRemoved, plan: shape(b.plan(desired, keepRemoved)) });
        }
      }
    }
  });
});
