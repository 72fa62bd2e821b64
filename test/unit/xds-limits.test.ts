// The building blocks of the xDS limits: a token bucket, the admission gate's order and bound,
// and the truncation of client-supplied text.
import { AdmissionGate, TokenBucket, truncate } from '../../src/xds/limits.js';

test('a token bucket allows its burst, then its rate', () => {
  let t = 0;
  const b = new TokenBucket(10, 3, () => t);
  expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
  expect(b.wait()).toBe(100);
  t += 100;
  expect([b.take(), b.take()]).toEqual([true, false]);
  t += 10_000; // refills up to the burst, not beyond
  expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
});

test('the admission gate admits in order at its rate, and refuses at once past its queue bound', async () => {
  const gate = new AdmissionGate(100, 1, 2);
  expect(gate.admit()).toBe(true);
  const order: number[] = [];
  const a = Promise.resolve(gate.admit()).then((ok) => order.push(ok ? 1 : -1));
  const b = Promise.resolve(gate.admit()).then((ok) => order.push(ok ? 2 : -2));
  expect(gate.admit()).toBe(false); // two already wait
  await Promise.all([a, b]);
  expect(order).toEqual([1, 2]);
});

test("a client's text is cut to the bound and says so", () => {
  expect(truncate('short', 10)).toBe('short');
  const long = truncate('x'.repeat(60 * 1024 * 1024), 4096);
  expect(long.length).toBeLessThan(4200);
  expect(long).toContain(`(${60 * 1024 * 1024 - 4096} more characters not kept)`);
});
