// Shared state-of-the-world responses: one encoding per type and version, held within a byte
// bound, least recently used out first.
import { SharedResponses } from '../../src/xds/shared-responses.js';

test('one encoding per type and version; another type or version is encoded with a nonce of its own', () => {
  const shared = new SharedResponses('boot');
  let encoded = 0;
  const encode = (nonce: string): Buffer => (encoded++, Buffer.from(nonce));
  const a = shared.get('t/Route', 'v1', encode);
  expect(shared.get('t/Route', 'v1', encode)).toBe(a);
  expect(encoded).toBe(1);
  const b = shared.get('t/Cluster', 'v1', encode);
  const c = shared.get('t/Route', 'v2', encode);
  expect(new Set([a.nonce, b.nonce, c.nonce]).size).toBe(3);
  expect(a.buf.toString()).toBe(a.nonce); // encoded with the nonce it is sent with
  expect(encoded).toBe(3);
});

test('the bytes held stay within the bound: the least recently used go first, and a response larger than the bound is not held', () => {
  const shared = new SharedResponses('boot', 100);
  const of = (n: number) => () => Buffer.alloc(n);
  const first = shared.get('t', 'a', of(40));
  shared.get('t', 'b', of(40));
  expect(shared.get('t', 'a', of(40))).toBe(first); // a is now the most recent
  shared.get('t', 'c', of(40)); // 120 > 100: b goes
  expect(shared.size).toBe(80);
  expect(shared.get('t', 'a', of(40))).toBe(first);
  let again = 0;
  shared.get('t', 'b', () => (again++, Buffer.alloc(40)));
  expect(again).toBe(1);
  const huge = shared.get('t', 'huge', of(500));
  expect(huge.buf.length).toBe(500);
  expect(shared.size).toBeLessThanOrEqual(100);
  expect(shared.get('t', 'huge', of(500))).not.toBe(huge);
});

test('a response no stream asked for in the idle time is let go', () => {
  let clock = 0;
  const shared = new SharedResponses('boot', 1000, 30_000, () => clock);
  const old = shared.get('t', 'old', () => Buffer.alloc(10));
  clock = 20_000;
  const kept = shared.get('t', 'kept', () => Buffer.alloc(10));
  clock = 40_000;
  shared.get('t', 'new', () => Buffer.alloc(10)); // old was last asked for 40 s ago
  expect(shared.size).toBe(20);
  expect(shared.get('t', 'kept', () => Buffer.alloc(10))).toBe(kept);
  expect(shared.get('t', 'old', () => Buffer.alloc(10))).not.toBe(old);
});
