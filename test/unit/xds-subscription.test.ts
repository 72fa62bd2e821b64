// The subscription rules of the xDS protocol document, its own examples first.
import { Subscription } from '../../src/xds/subscription.js';

describe('state of the world', () => {
  test('the protocol example: legacy wildcard, "*" plus a name, the name alone, then empty', () => {
    const s = new Subscription(true);
    expect(s.replace([])).toMatchObject({ wildcardAdded: true });
    expect(s.wildcard).toBe(true);
    expect(s.replace(['*', 'A'])).toMatchObject({ added: ['A'], wildcardAdded: false });
    expect(s.wildcard).toBe(true);
    expect(s.replace(['A'])).toMatchObject({ wildcardRemoved: true, added: [] });
    expect(s.wildcard).toBe(false);
    // Empty after an explicit subscription unsubscribes everything; it is not a wildcard.
    expect(s.replace([])).toMatchObject({ removed: ['A'], wildcardAdded: false });
    expect(s.wildcard).toBe(false);
    expect([...s.names]).toEqual([]);
  });

  test('types without a wildcard (RDS, EDS, SDS): an empty list means nothing', () => {
    const s = new Subscription(false);
    s.replace([]);
    expect(s.wildcard).toBe(false);
    expect(s.replace(['r1', 'r2'])).toMatchObject({ added: ['r1', 'r2'] });
    expect(s.replace(['r2'])).toMatchObject({ added: [], removed: ['r1'] });
    expect(s.includes('r2', false)).toBe(true);
    expect(s.includes('r1', true)).toBe(false);
  });
});

describe('delta', () => {
  test('the protocol example: legacy wildcard, add A, drop "*", drop A', () => {
    const s = new Subscription(true);
    expect(s.apply([], [], true)).toMatchObject({ wildcardAdded: true });
    expect(s.apply(['A'], [], false)).toMatchObject({ added: ['A'] });
    expect(s.wildcard).toBe(true);
    expect(s.apply([], ['*'], false)).toMatchObject({ wildcardRemoved: true });
    expect(s.apply([], ['A'], false)).toMatchObject({ removed: ['A'] });
    expect(s.wildcard).toBe(false);
    expect(s.names.size).toBe(0);
  });

  test('a first request naming resources is not a wildcard; subscribing again asks for a resend', () => {
    const s = new Subscription(true);
    s.apply(['x'], [], true);
    expect(s.wildcard).toBe(false);
    expect(s.apply(['x'], [], false).added).toEqual(['x']);
    expect(s.apply([], ['never-subscribed'], false).removed).toEqual([]);
  });
});

describe('the copy of a name a subscription keeps', () => {
  // Which copy of a string is kept cannot be seen from JavaScript; which names were looked up
  // (and so replaced by the proxy's own resource names) can.
  const canonical = (calls: string[]) => (n: string) => (calls.push(n), n);

  test('state of the world: a changed list is looked up once; an ACK repeating it looks up nothing and keeps the names', () => {
    const s = new Subscription(false);
    const calls: string[] = [];
    expect(s.replace(['a', 'b'], canonical(calls))).toMatchObject({ added: ['a', 'b'] });
    expect(calls).toEqual(['a', 'b']);
    calls.length = 0;
    // Envoy's ACK: the same names, decoded anew. Not a change, and nothing looked up.
    expect(s.replace(['a', 'b'], canonical(calls))).toMatchObject({ added: [], removed: [] });
    expect(calls).toEqual([]);
    expect(s.replace(['a', 'b', 'c'], canonical(calls))).toMatchObject({ added: ['c'] });
    expect(calls).toEqual(['a', 'b', 'c']);
    expect([...s.names]).toEqual(['a', 'b', 'c']);
  });

  test('delta: a newly subscribed name is looked up', () => {
    const s = new Subscription(false);
    const calls: string[] = [];
    expect(s.apply(['x'], [], true, canonical(calls))).toMatchObject({ added: ['x'] });
    expect(calls).toEqual(['x']);
  });
});

test('the very list of the last request changes nothing; a new list is compared as before', () => {
  const s = new Subscription(false);
  const list = Object.freeze(['a', 'b']);
  expect(s.replace(list)).toMatchObject({ added: ['a', 'b'] });
  expect(s.replace(list)).toMatchObject({ added: [], removed: [] });
  expect(s.replace(['b'])).toMatchObject({ removed: ['a'] });
  expect(s.replace(list)).toMatchObject({ added: ['a'] });
});
