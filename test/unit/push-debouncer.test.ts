// The push debouncer with fake timers: isolated changes at once, bursts merged up to the
// maximum delay, one flush at a time.
import { jest } from '@jest/globals';
import { Debouncer } from '../../src/push/debouncer.js';
import { mergeChanges, PushQueue, toMerged } from '../../src/push/push-queue.js';

const opts = { quietMs: 100, maxDelayMs: 1000 };

function recorder() {
  const batches: number[][] = [];
  let release: (() => void) | undefined;
  let hold = false;
  const flush = async (b: number[]) => {
    batches.push(b);
    if (hold) await new Promise<void>((r) => (release = r));
  };
  return {
    batches,
    debouncer: new Debouncer<number[]>(flush, (a, b) => [...a, ...b], opts),
    holdFlushes(on: boolean) {
      hold = on;
    },
    release: () => release?.(),
  };
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

test('an isolated change is pushed immediately', async () => {
  const r = recorder();
  r.debouncer.add([1]);
  await Promise.resolve();
  expect(r.batches).toEqual([[1]]);
  await jest.advanceTimersByTimeAsync(500);
  r.debouncer.add([2]);
  expect(r.batches).toEqual([[1], [2]]);
});

test('a burst is merged and pushed once it is quiet', async () => {
  const r = recorder();
  r.debouncer.add([1]); // isolated: immediate
  for (let i = 2; i <= 5; i++) {
    jest.advanceTimersByTime(30);
    r.debouncer.add([i]);
  }
  expect(r.batches).toEqual([[1]]);
  await jest.advanceTimersByTimeAsync(99);
  expect(r.batches).toEqual([[1]]);
  await jest.advanceTimersByTimeAsync(1);
  expect(r.batches).toEqual([[1], [2, 3, 4, 5]]);
});

test('a burst that never pauses is pushed at the maximum delay', async () => {
  const r = recorder();
  r.debouncer.add([0]);
  await jest.advanceTimersByTimeAsync(10);
  for (let i = 1; i <= 30; i++) {
    r.debouncer.add([i]);
    await jest.advanceTimersByTimeAsync(50); // never 100 ms of quiet
  }
  // The first change of the burst came at t=10: the batch went at t=1010, holding changes 1..20.
  expect(r.batches[1]).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  // Changes 21..30 wait: the last came at t=1460, so the burst is not quiet before t=1560.
  expect(r.batches).toHaveLength(2);
});

test('one flush at a time: changes during a flush wait for it and are merged', async () => {
  const r = recorder();
  r.holdFlushes(true);
  r.debouncer.add([1]);
  await Promise.resolve();
  r.debouncer.add([2]);
  r.debouncer.add([3]);
  await jest.advanceTimersByTimeAsync(2000);
  expect(r.batches).toEqual([[1]]);
  r.holdFlushes(false);
  r.release();
  await jest.advanceTimersByTimeAsync(0);
  expect(r.batches).toEqual([[1], [2, 3]]);
  await r.debouncer.idle();
});

test('changes merge: reasons add up, "all" wins over a list, lists unite', () => {
  const a = toMerged({ reason: 'endpoints', proxies: ['p1'], types: ['eds'] });
  const b = toMerged({ reason: 'config', proxies: ['p2'], types: ['cds', 'eds'] });
  expect(mergeChanges(a, b)).toEqual({ reasons: new Set(['endpoints', 'config']), proxies: new Set(['p1', 'p2']), types: new Set(['eds', 'cds']) });
  expect(mergeChanges(a, toMerged({ reason: 'config' }))).toMatchObject({ proxies: undefined, types: undefined });
});

test('the push queue hands merged changes to the server', async () => {
  const pushes: Array<{ reason: string; proxies?: Iterable<string>; types?: Iterable<string> }> = [];
  const q = new PushQueue({ push: async (req) => void pushes.push(req) }, opts);
  q.enqueue({ reason: 'endpoints', types: ['eds'], proxies: ['a'] });
  q.enqueue({ reason: 'endpoints', types: ['eds'], proxies: ['b'] });
  q.enqueue({ reason: 'config', types: ['cds'], proxies: ['b'] });
  await jest.advanceTimersByTimeAsync(100);
  await q.idle();
  expect(pushes).toHaveLength(2);
  expect(pushes[1].reason).toBe('config+endpoints');
  expect(new Set(pushes[1].proxies)).toEqual(new Set(['b']));
  expect(new Set(pushes[1].types)).toEqual(new Set(['eds', 'cds']));
  q.close();
});
