// The push debouncer with fake timers: isolated changes at once, bursts merged up to the
// maximum delay, one flush at a time.
import { jest } from '@jest/globals';
import { Debouncer } from '../../src/push/debouncer.js';
import { endpointsOnly, mergeChanges, PushQueue, toMerged } from '../../src/push/push-queue.js';

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

/** A debouncer whose flushes record their signal and wait until released. */
function signalRecorder(o = opts) {
  const flushes: Array<{ batch: number[]; signal: AbortSignal | undefined; release: () => void }> = [];
  const debouncer = new Debouncer<number[]>(
    // Like a push: once released, it reports whether its signal left part of it undone.
    (batch, signal) => new Promise<void | 'called-off'>((resolve) => flushes.push({ batch, signal, release: () => resolve(signal?.aborted ? 'called-off' : undefined) })),
    (a, b) => [...a, ...b],
    o,
  );
  return { flushes, debouncer };
}

test('a change during an isolated flush calls it off; its batch goes again with the burst, at the burst\'s quiet', async () => {
  const r = signalRecorder();
  r.debouncer.add([1]); // isolated: flushed at once, with a signal
  expect(r.flushes.map((f) => f.batch)).toEqual([[1]]);
  expect(r.flushes[0].signal?.aborted).toBe(false);
  await jest.advanceTimersByTimeAsync(20);
  r.debouncer.add([2]); // a burst after all
  expect(r.flushes[0].signal?.aborted).toBe(true);
  r.flushes[0].release(); // the push stops where it was
  await jest.advanceTimersByTimeAsync(99);
  expect(r.flushes).toHaveLength(1); // the burst is not quiet yet
  await jest.advanceTimersByTimeAsync(1);
  expect(r.flushes.map((f) => f.batch)).toEqual([[1], [1, 2]]);
  expect(r.flushes[1].signal).toBeUndefined(); // a burst's flush is never called off
  r.debouncer.add([3]);
  expect(r.flushes[1].signal).toBeUndefined();
  r.flushes[1].release();
  await jest.advanceTimersByTimeAsync(100);
  expect(r.flushes.map((f) => f.batch)).toEqual([[1], [1, 2], [3]]);
  r.flushes[2].release();
  await r.debouncer.idle();
});

test('an isolated change called off by a burst that never pauses still goes out by its own maximum', async () => {
  const r = signalRecorder();
  r.debouncer.add([0]); // t=0, isolated
  await jest.advanceTimersByTimeAsync(50);
  r.debouncer.add([1]); // calls the flush of 0 off
  r.flushes[0].release();
  for (let i = 2; i <= 30; i++) {
    await jest.advanceTimersByTimeAsync(50); // never 100 ms of quiet
    r.debouncer.add([i]);
  }
  // Change 0 came at t=0: the merged batch went at t=1000 (maxDelayMs), not 1000 ms after change 1.
  expect(r.flushes.map((f) => f.batch)).toEqual([[0], Array.from({ length: 20 }, (_, i) => i)]);
  r.flushes[1].release();
  await jest.advanceTimersByTimeAsync(2000);
  for (const f of r.flushes.slice(2)) f.release();
  await r.debouncer.idle();
});

test('an isolated flush that no change follows is never called off', async () => {
  const r = signalRecorder();
  r.debouncer.add([1]);
  await jest.advanceTimersByTimeAsync(5000);
  expect(r.flushes[0].signal?.aborted).toBe(false);
  r.flushes[0].release();
  await r.debouncer.idle();
  expect(r.flushes).toHaveLength(1);
});

test('changes merge: reasons add up, "all" wins over a list, lists unite', () => {
  const a = toMerged({ reason: 'endpoints', proxies: ['p1'], types: ['eds'] });
  const b = toMerged({ reason: 'config', proxies: ['p2'], types: ['cds', 'eds'] });
  expect(mergeChanges(a, b)).toEqual({ reasons: new Set(['endpoints', 'config']), proxies: new Set(['p1', 'p2']), types: new Set(['eds', 'cds']) });
  expect(mergeChanges(a, toMerged({ reason: 'config' }))).toMatchObject({ proxies: undefined, types: undefined });
});

const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

/** A push target that records each push and can hold it until released. */
function pushTarget() {
  const pushes: Array<{ reason: string; proxies: string[]; types: string[] }> = [];
  let hold = false;
  const waiting: Array<() => void> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  return {
    pushes,
    get maxInFlight() {
      return maxInFlight;
    },
    holdPushes(on: boolean) {
      hold = on;
    },
    releaseAll() {
      for (const r of waiting.splice(0)) r();
    },
    target: {
      push: async (req: { reason: string; proxies?: Iterable<string>; types?: Iterable<string> }) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        pushes.push({ reason: req.reason, proxies: [...(req.proxies ?? [])].sort(), types: [...(req.types ?? [])].sort() });
        if (hold) await new Promise<void>((r) => waiting.push(r));
        inFlight--;
      },
    },
  };
}

test('the push queue hands merged changes to the server', async () => {
  const t = pushTarget();
  const q = new PushQueue(t.target, opts);
  q.enqueue({ reason: 'config', types: ['cds'], proxies: ['a'] });
  q.enqueue({ reason: 'config', types: ['lds'], proxies: ['b'] });
  q.enqueue({ reason: 'secrets', types: ['sds'], proxies: ['b'] });
  await jest.advanceTimersByTimeAsync(100);
  await q.idle();
  expect(t.pushes).toEqual([
    { reason: 'config', proxies: ['a'], types: ['cds'] },
    { reason: 'config+secrets', proxies: ['b'], types: ['lds', 'sds'] },
  ]);
  q.close();
});

test('an endpoint change is not held by the debounce of a configuration burst', async () => {
  const t = pushTarget();
  const q = new PushQueue(t.target, opts);
  q.enqueue({ reason: 'config', proxies: ['a'] });
  q.enqueue({ reason: 'config', proxies: ['b'] }); // a burst: waits for quiet
  q.enqueue({ reason: 'endpoints', types: [EDS], proxies: ['c'] });
  await jest.advanceTimersByTimeAsync(0);
  expect(t.pushes.map((p) => p.proxies)).toEqual([['a'], ['c']]);
  await jest.advanceTimersByTimeAsync(100);
  await q.idle();
  expect(t.pushes.map((p) => p.proxies)).toEqual([['a'], ['c'], ['b']]);
  q.close();
});

test('steady endpoint churn is pushed as it comes, never at the maximum delay', async () => {
  const t = pushTarget();
  const q = new PushQueue(t.target, opts);
  // One endpoint change every 20 ms for 2 s: a debounced queue would wait 1 s each time.
  for (let i = 0; i < 100; i++) {
    q.enqueue({ reason: 'endpoints', types: [EDS], proxies: [`p${i}`] });
    await jest.advanceTimersByTimeAsync(0);
    expect(t.pushes.at(-1)?.proxies).toEqual([`p${i}`]);
    await jest.advanceTimersByTimeAsync(20);
  }
  expect(t.pushes).toHaveLength(100);
  q.close();
});

test('endpoint changes that arrive during a push are merged into the next one; one push at a time across both paths', async () => {
  const t = pushTarget();
  const q = new PushQueue(t.target, opts);
  t.holdPushes(true);
  q.enqueue({ reason: 'config', proxies: ['a'] }); // isolated: pushed at once, held
  await jest.advanceTimersByTimeAsync(0);
  q.enqueue({ reason: 'endpoints', types: [EDS], proxies: ['b'] });
  q.enqueue({ reason: 'endpoints', types: [EDS], proxies: ['c'] });
  await jest.advanceTimersByTimeAsync(50);
  expect(t.pushes).toHaveLength(1); // the endpoint push waits for the one in progress
  t.holdPushes(false);
  t.releaseAll();
  await q.idle();
  expect(t.pushes).toEqual([
    { reason: 'config', proxies: ['a'], types: [] },
    { reason: 'endpoints', proxies: ['b', 'c'], types: [EDS] },
  ]);
  expect(t.maxInFlight).toBe(1);
  q.close();
});

test('the push queue calls off an isolated push when a burst begins, and pushes its proxies again with the burst', async () => {
  const pushes: Array<{ proxies: string[]; signal: AbortSignal | undefined }> = [];
  const held: Array<() => void> = [];
  const q = new PushQueue(
    {
      push: (req) => {
        pushes.push({ proxies: [...(req.proxies ?? [])].sort(), signal: req.signal });
        // Like XdsServer.push: held until released, then called off if the signal went.
        return new Promise((resolve) => held.push(() => resolve({ calledOff: req.signal?.aborted === true })));
      },
    },
    opts,
  );
  q.enqueue({ reason: 'config', proxies: ['a'] }); // isolated: pushed at once
  await jest.advanceTimersByTimeAsync(0);
  expect(pushes[0].signal?.aborted).toBe(false);
  q.enqueue({ reason: 'config', proxies: ['b'] }); // a burst
  expect(pushes[0].signal?.aborted).toBe(true);
  held.shift()!();
  await jest.advanceTimersByTimeAsync(100);
  expect(pushes.map((p) => p.proxies)).toEqual([['a'], ['a', 'b']]);
  held.shift()!();
  await q.idle();
  q.close();
});

test('a failed push is logged and the queue goes on', async () => {
  let calls = 0;
  const q = new PushQueue(
    {
      push: async () => {
        calls++;
        if (calls === 1) throw new Error('boom');
      },
    },
    opts,
  );
  q.enqueue({ reason: 'endpoints', types: [EDS], proxies: ['a'] });
  await jest.advanceTimersByTimeAsync(0);
  q.enqueue({ reason: 'endpoints', types: [EDS], proxies: ['b'] });
  await jest.advanceTimersByTimeAsync(0);
  await q.idle();
  expect(calls).toBe(2);
  q.close();
});

test('only a change of endpoint assignments alone skips the debounce', () => {
  expect(endpointsOnly({ reason: 'endpoints', types: [EDS] })).toBe(true);
  expect(endpointsOnly({ reason: 'pods', types: [EDS, 'cds'] })).toBe(false);
  expect(endpointsOnly({ reason: 'config' })).toBe(false);
  expect(endpointsOnly({ reason: 'x', types: [] })).toBe(false);
});

test('configIdleForMs: 0 from a configuration change until its push ends, then the time since; endpoint pushes do not count', async () => {
  const t = pushTarget();
  const q = new PushQueue(t.target, opts);
  expect(q.configIdleForMs(Date.now())).toBeGreaterThan(0);
  t.holdPushes(true);
  q.enqueue({ reason: 'endpoints', types: [EDS], proxies: ['c'] });
  await jest.advanceTimersByTimeAsync(0);
  expect(t.pushes).toHaveLength(1);
  expect(q.configIdleForMs(Date.now())).toBeGreaterThan(0); // an endpoint push is under way
  t.releaseAll();
  await q.idle();
  q.enqueue({ reason: 'config', proxies: ['a'] });
  q.enqueue({ reason: 'config', proxies: ['b'] }); // a burst: merged, waiting for quiet
  expect(q.configIdleForMs(Date.now())).toBe(0);
  await jest.advanceTimersByTimeAsync(100);
  expect(q.configIdleForMs(Date.now())).toBe(0); // its push is under way
  t.releaseAll();
  await jest.advanceTimersByTimeAsync(0);
  t.releaseAll();
  await q.idle();
  expect(q.configIdleForMs(Date.now())).toBe(0); // idle this very moment
  await jest.advanceTimersByTimeAsync(300);
  expect(q.configIdleForMs(Date.now())).toBe(300);
  q.close();
});
