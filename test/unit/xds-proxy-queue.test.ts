// The server's queue of proxies waiting for a push (Istio's push queue): order, concurrency, and a
// later push merging into the evaluations an earlier one has not reached yet.
import { ProxyQueue, type QueuedPush } from '../../src/xds/proxy-queue.js';

interface Evaluation {
  proxy: string;
  types: string[];
  reasons: string[];
  startedAt: number;
}

/** A queue whose evaluations wait until released, one by one or all. */
function harness(limit: number) {
  const evaluations: Evaluation[] = [];
  const held: Array<() => void> = [];
  let running = 0;
  let maxRunning = 0;
  let failFor: string | undefined;
  const queue = new ProxyQueue<string, string>(limit, async (proxy, push: QueuedPush<string>) => {
    evaluations.push({ proxy, types: [...push.types].sort(), reasons: [...push.reasons].sort(), startedAt: push.startedAt });
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise<void>((r) => held.push(r));
    running--;
    if (proxy === failFor) throw new Error(`cannot evaluate ${proxy}`);
  });
  return {
    queue,
    evaluations,
    get maxRunning() {
      return maxRunning;
    },
    failOn(proxy: string) {
      failFor = proxy;
    },
    /** Lets pending callbacks run, releasing nothing. */
    async tick() {
      await new Promise((r) => setImmediate(r));
    },
    /** Lets the evaluations in progress finish and the queue take the next ones. */
    async step() {
      for (const r of held.splice(0)) r();
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
    },
    async drain() {
      while (held.length > 0 || queue.size > 0) await this.step();
    },
  };
}

const settled = <T>(p: Promise<T>) => {
  const s = { done: false, error: undefined as unknown };
  p.then(
    () => (s.done = true),
    (err: unknown) => {
      s.done = true;
      s.error = err;
    },
  );
  return s;
};

test('proxies are evaluated in the order asked, at most `limit` at once; the push resolves when all are done', async () => {
  const h = harness(2);
  const push = settled(h.queue.enqueue(['a', 'b', 'c', 'd', 'e'], new Set(['cds']), 'config', 10));
  await h.tick();
  expect(h.evaluations.map((e) => e.proxy)).toEqual(['a', 'b']);
  expect(push.done).toBe(false);
  await h.drain();
  expect(h.evaluations.map((e) => e.proxy)).toEqual(['a', 'b', 'c', 'd', 'e']);
  expect(h.maxRunning).toBe(2);
  expect(push.done).toBe(true);
  expect(push.error).toBeUndefined();
});

test('a push that comes while proxies wait merges into their evaluation: once each, both types and reasons, the earlier start', async () => {
  const h = harness(1);
  const first = settled(h.queue.enqueue(['a', 'b', 'c'], new Set(['rds']), 'config', 10));
  await h.tick(); // a is being evaluated; b and c wait
  const second = settled(h.queue.enqueue(['c', 'b', 'd'], new Set(['eds']), 'endpoints', 20));
  await h.drain();
  expect(h.evaluations).toEqual([
    { proxy: 'a', types: ['rds'], reasons: ['config'], startedAt: 10 },
    // b and c keep their places and are evaluated once for both pushes
    { proxy: 'b', types: ['eds', 'rds'], reasons: ['config', 'endpoints'], startedAt: 10 },
    { proxy: 'c', types: ['eds', 'rds'], reasons: ['config', 'endpoints'], startedAt: 10 },
    { proxy: 'd', types: ['eds'], reasons: ['endpoints'], startedAt: 20 },
  ]);
  expect(first.done && second.done).toBe(true);
});

test('a proxy asked for while its evaluation runs is evaluated again, after those already waiting', async () => {
  const h = harness(1);
  void h.queue.enqueue(['a', 'b'], new Set(['cds']), 'config', 10);
  await h.tick(); // a runs (it may have read the model before the new change)
  const again = settled(h.queue.enqueue(['a'], new Set(['cds']), 'config', 20));
  await h.drain();
  expect(h.evaluations.map((e) => e.proxy)).toEqual(['a', 'b', 'a']);
  expect(again.done).toBe(true);
});

test('a failed evaluation rejects the pushes it stood for; the others resolve and the queue goes on', async () => {
  const h = harness(1);
  h.failOn('b');
  const withB = settled(h.queue.enqueue(['a', 'b'], new Set(['cds']), 'config', 10));
  const withoutB = settled(h.queue.enqueue(['c'], new Set(['cds']), 'config', 10));
  await h.drain();
  expect(withB.error).toEqual(new Error('cannot evaluate b'));
  expect(withoutB.done).toBe(true);
  expect(withoutB.error).toBeUndefined();
  expect(h.evaluations.map((e) => e.proxy)).toEqual(['a', 'b', 'c']);
});

test('a push of no proxies resolves at once', async () => {
  const h = harness(1);
  await expect(h.queue.enqueue([], new Set(['cds']), 'config', 0)).resolves.toBeUndefined();
  expect(h.evaluations).toEqual([]);
});
