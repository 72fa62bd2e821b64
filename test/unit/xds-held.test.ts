import { EncodedResource } from '../../src/xds/encoded-resource.js';
import type { DesiredMap } from '../../src/xds/desired-diff.js';
import { HeldMap, type Held } from '../../src/xds/held.js';
import { TypeState } from '../../src/xds/type-state.js';
import { TypeUrl } from '../../src/xds/types.js';

const TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const res = (name: string, content: string): EncodedResource => new EncodedResource(TYPE, name, new TextEncoder().encode(content));

function desired(entries: [string, string][]): DesiredMap {
  return new Map(entries.map(([n, c]) => [n, res(n, c)]));
}

/** What a plain Map of the same operations holds: the reference HeldMap must equal. */
function view(m: HeldMap): Record<string, string> {
  return Object.fromEntries([...m].map(([n, h]) => [n, h.version]).sort());
}
const plain = (m: Map<string, Held>): Record<string, string> => Object.fromEntries([...m].map(([n, h]) => [n, h.version]).sort());

test('a rebased map holds the same entries, and iterates, counts and answers as a plain map', () => {
  const d1 = desired([['a', '1'], ['b', '1'], ['c', '1'], ['d', '1']]);
  const m = new HeldMap();
  for (const [n, r] of d1) m.set(n, r);
  m.rebase(d1);
  expect(view(m)).toEqual(plain(new Map(d1)));
  expect(m.size).toBe(4);
  // The client drops one, holds another at a version the map does not have, and gets a new one.
  m.delete('b');
  m.set('c', { version: 'old' });
  m.set('z', { version: 'z1' });
  expect(view(m)).toEqual({ a: d1.get('a')!.version, c: 'old', d: d1.get('d')!.version, z: 'z1' });
  expect(m.size).toBe(4);
  expect(m.has('b')).toBe(false);
  expect([...m.keys()].sort()).toEqual(['a', 'c', 'd', 'z']);
  // The server's map moves on: d changes, a goes, e comes. Held content does not change.
  const d2 = new Map(d1);
  d2.set('d', res('d', '2'));
  d2.delete('a');
  d2.set('e', res('e', '1'));
  const before = view(m);
  m.rebase(d2);
  expect(view(m)).toEqual(before);
  expect(m.size).toBe(4);
  expect(m.has('e')).toBe(false);
  // And setting the base's own object takes the exception away.
  m.set('d', d2.get('d')!);
  m.set('e', d2.get('e')!);
  expect(m.get('d')).toBe(d2.get('d'));
  expect(m.size).toBe(5);
  m.clear();
  expect(m.size).toBe(0);
  expect([...m]).toEqual([]);
});

test('random operations and rebases never make it differ from a plain map', () => {
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const names = Array.from({ length: 12 }, (_, i) => `n${i}`);
  const maps: DesiredMap[] = [];
  for (let k = 0; k < 5; k++) maps.push(desired(names.filter(() => rnd(4) > 0).map((n) => [n, String(rnd(3))])));
  // Same content in two maps: the same version (a content hash), as the server shares them.
  for (let round = 0; round < 200; round++) {
    const m = new HeldMap();
    const ref = new Map<string, Held>();
    for (let step = 0; step < 60; step++) {
      const name = names[rnd(names.length)];
      const op = rnd(6);
      if (op === 0) {
        m.delete(name);
        ref.delete(name);
      } else if (op === 1) {
        const h = { version: `v${rnd(3)}` };
        m.set(name, h);
        ref.set(name, h);
      } else if (op === 2) {
        const r = maps[rnd(maps.length)].get(name);
        if (r) {
          m.set(name, r);
          ref.set(name, r);
        }
      } else if (op === 3) {
        m.rebase(maps[rnd(maps.length)]);
      } else if (op === 4 && rnd(10) === 0) {
        m.clear();
        ref.clear();
      }
      expect(view(m)).toEqual(plain(ref));
      expect(m.size).toBe(ref.size);
      for (const n of names) expect(m.get(n)?.version).toBe(ref.get(n)?.version);
    }
  }
});

test('clients in sync hold the shared desired map, not copies: an ACK leaves no entry of their own', () => {
  const names = Array.from({ length: 100 }, (_, i) => `outbound|8080||svc-${i}.ns.svc.cluster.local`);
  const d1: DesiredMap = new Map(names.map((n) => [n, new EncodedResource(TypeUrl.Endpoint, n, Buffer.from(`${n}:1`))]));
  const clients = [new TypeState(TypeUrl.Endpoint, false), new TypeState(TypeUrl.Endpoint, false), new TypeState(TypeUrl.Endpoint, true)];
  const sync = (st: TypeState, d: DesiredMap): number => {
    const plan = st.plan(d, false);
    if (!plan) return 0;
    st.sent(plan, 'n', 'v');
    st.ack();
    return plan.resources.length;
  };
  for (const st of clients) {
    if (st.delta) st.subscribeDelta(names, [], true, {});
    else st.subscribeSotw(names, true);
    expect(sync(st, d1)).toBe(100);
    expect(st.has.size).toBe(100);
    expect(st.has.exceptions).toBe(0);
    expect(st.has.get(names[7])).toBe(d1.get(names[7]));
  }
  // One endpoint changes: each client is sent that one, and again keeps nothing of its own.
  const d2 = new Map(d1);
  d2.set(names[3], new EncodedResource(TypeUrl.Endpoint, names[3], Buffer.from('changed')));
  for (const st of clients) {
    expect(sync(st, d2)).toBe(1);
    expect(st.has.exceptions).toBe(0);
    expect(st.has.get(names[3])).toBe(d2.get(names[3]));
    expect(st.plan(d2, false)).toBeUndefined();
  }
  // A client that rejected it keeps its old version as its own, and only that.
  const [st] = clients;
  const d3 = new Map(d2);
  d3.set(names[5], new EncodedResource(TypeUrl.Endpoint, names[5], Buffer.from('bad')));
  const plan = st.plan(d3, false)!;
  st.sent(plan, 'n2', 'v2');
  st.nack(`rejected ${names[5]}`);
  expect(st.has.get(names[5])).toBe(d1.get(names[5]));
  expect(st.plan(d3, false)).toBeUndefined();
});
