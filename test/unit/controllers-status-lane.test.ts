// Status writes against an API server slower than the statuses change: per object one write in
// flight and one per interval, a bounded number in flight in all, and asks made meanwhile folded
// into one later write of what is wanted by then, never lost and never piled up.
import { StatusLane } from '../../src/controllers/status-lane.js';

interface Pending {
  key: string;
  wrote: string;
  land: () => Promise<void>;
}

function setup(opts: { intervalMs?: number; maxInFlight?: number; busy?: () => boolean } = {}) {
  let now = 0;
  const timers: Array<{ at: number; fn: () => void; cleared: boolean }> = [];
  const wanted = new Map<string, string>();
  const inFlight: Pending[] = [];
  const written: Array<[string, string]> = [];
  const lane = new StatusLane({
    intervalMs: opts.intervalMs ?? 1000,
    maxInFlight: opts.maxInFlight ?? 2,
    ...(opts.busy ? { hold: { busy: opts.busy, maxMs: 2000, recheckMs: 50 } } : {}),
    now: () => now,
    setTimer: (fn, ms) => {
      const t = { at: now + ms, fn, cleared: false };
      timers.push(t);
      return t as unknown as NodeJS.Timeout;
    },
    start: (key) => {
      const w = wanted.get(key);
      if (w === undefined) return undefined;
      wanted.delete(key);
      written.push([key, w]);
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      inFlight.push({
        key,
        wrote: w,
        land: async () => {
          inFlight.splice(inFlight.findIndex((p) => p.key === key), 1);
          resolve();
          await done;
          await new Promise((r) => setImmediate(r)); // let the lane's finally run
        },
      });
      return done;
    },
  });
  const want = (key: string, status: string): void => {
    wanted.set(key, status);
    lane.request(key);
  };
  const advance = (ms: number): void => {
    now += ms;
    for (const t of timers.filter((x) => !x.cleared && x.at <= now)) {
      t.cleared = true;
      t.fn();
    }
  };
  const land = (key: string): Promise<void> => inFlight.find((p) => p.key === key)!.land();
  const armedTimers = (): number => timers.length;
  return { lane, want, advance, land, written, inFlight, armedTimers };
}

test('one write in flight per object: asks meanwhile fold into one write of the newest status, after the interval', async () => {
  const t = setup();
  t.want('ns/a', 'v1');
  t.want('ns/a', 'v2');
  t.want('ns/a', 'v3');
  expect(t.written).toEqual([['ns/a', 'v1']]);
  await t.land('ns/a');
  expect(t.written).toHaveLength(1); // landed at once, but the interval has not passed
  t.advance(999);
  expect(t.written).toHaveLength(1);
  t.advance(1);
  expect(t.written).toEqual([
    ['ns/a', 'v1'],
    ['ns/a', 'v3'],
  ]);
});

test('a slow API server: never more than maxInFlight writes out, the rest queue once each and go as slots free', async () => {
  const t = setup({ maxInFlight: 2 });
  for (const k of ['a', 'b', 'c', 'd']) t.want(k, `${k}1`);
  for (const k of ['a', 'b', 'c', 'd']) t.want(k, `${k}2`); // a, b in flight (again); c, d queued (folded)
  expect(t.inFlight.map((p) => p.key)).toEqual(['a', 'b']);
  expect(t.lane.sizes).toEqual({ inFlight: 2, queued: 2, timed: 0, held: 0 });
  await t.land('a');
  // a's slot goes to c (queued first) with its newest status; a itself waits for its interval.
  expect(t.inFlight.map((p) => [p.key, p.wrote])).toEqual([
    ['b', 'b1'],
    ['c', 'c2'],
  ]);
  await t.land('b');
  expect(t.inFlight.map((p) => [p.key, p.wrote])).toEqual([
    ['c', 'c2'],
    ['d', 'd2'],
  ]);
  t.advance(1000); // a and b may go again: no slot free, so they queue
  expect(t.lane.sizes).toEqual({ inFlight: 2, queued: 2, timed: 0, held: 0 });
  await t.land('c');
  await t.land('d');
  expect(t.inFlight.map((p) => [p.key, p.wrote])).toEqual([
    ['a', 'a2'],
    ['b', 'b2'],
  ]);
  await t.land('a');
  await t.land('b');
  expect(t.written).toHaveLength(6); // 8 asks, 6 writes, every object's last status written
  expect(t.lane.sizes).toEqual({ inFlight: 0, queued: 0, timed: 0, held: 0 });
});

test('nothing wanted any more by its turn: no write, and the next ask is not delayed', async () => {
  const t = setup();
  t.want('x', 'v1');
  await t.land('x');
  t.lane.request('x'); // asked, but the status went back to what is stored: nothing wanted
  t.advance(1000);
  expect(t.written).toEqual([['x', 'v1']]);
  t.advance(5000);
  t.want('x', 'v2');
  expect(t.written).toEqual([
    ['x', 'v1'],
    ['x', 'v2'],
  ]);
});

test('a forgotten object (deleted) is not written again; stop() drops what waits', async () => {
  const t = setup({ maxInFlight: 1 });
  t.want('gone', 'v1');
  t.want('queued', 'v1');
  t.want('gone', 'v2');
  t.lane.forget('gone');
  await t.land('gone');
  expect(t.inFlight.map((p) => p.key)).toEqual(['queued']);
  t.advance(1000);
  expect(t.written.filter(([k]) => k === 'gone')).toEqual([['gone', 'v1']]);
  t.want('later', 'v1');
  t.lane.stop();
  await t.land('queued');
  expect(t.written.map(([k]) => k)).toEqual(['gone', 'queued']);
});

test('objects asked again while in flight go behind those waiting: busy objects cannot keep every slot', async () => {
  const t = setup({ maxInFlight: 2 });
  for (const k of ['a', 'b', 'c', 'd']) t.want(k, `${k}1`);
  t.advance(1500); // a slow API server: the interval has passed before the writes land
  t.want('a', 'a2');
  t.want('b', 'b2');
  await t.land('a');
  expect(t.inFlight.map((p) => p.key)).toEqual(['b', 'c']);
  await t.land('b');
  expect(t.inFlight.map((p) => p.key)).toEqual(['c', 'd']);
  await t.land('c');
  await t.land('d');
  expect(t.inFlight.map((p) => [p.key, p.wrote])).toEqual([
    ['a', 'a2'],
    ['b', 'b2'],
  ]);
});

test('after stop() nothing starts', () => {
  const t = setup();
  t.lane.stop();
  t.want('late', 'v1');
  expect(t.written).toEqual([]);
});

test('while configuration is being pushed, writes wait and then write once what they ended at', () => {
  let busy = true;
  const t = setup({ busy: () => busy });
  t.want('ns/a', 'InProgress 0/1000');
  t.want('ns/b', 'InProgress 0/1000');
  t.advance(300);
  t.want('ns/a', 'InProgress 352/1000');
  t.advance(300);
  expect(t.written).toEqual([]);
  t.want('ns/a', 'Reconciled 1000/1000');
  busy = false;
  t.advance(50);
  expect(t.written).toEqual([
    ['ns/a', 'Reconciled 1000/1000'],
    ['ns/b', 'InProgress 0/1000'],
  ]);
});

test('a hold that never ends delays each write by at most its maximum', async () => {
  const t = setup({ busy: () => true });
  t.want('ns/a', 'v1');
  t.advance(1950);
  expect(t.written).toEqual([]);
  t.advance(50);
  expect(t.written).toEqual([['ns/a', 'v1']]);
  // The next write of the same object is held again, at most 2 s from when it is asked.
  await t.land('ns/a');
  t.want('ns/a', 'v2');
  t.advance(1999);
  expect(t.written).toHaveLength(1);
  t.advance(1);
  expect(t.written).toEqual([
    ['ns/a', 'v1'],
    ['ns/a', 'v2'],
  ]);
});

test('a thousand held writes share one timer, and all go once the hold ends', () => {
  let busy = true;
  const t = setup({ busy: () => busy, maxInFlight: 2000 });
  const armed = t.armedTimers();
  for (let i = 0; i < 1000; i++) t.want(`ns/o${i}`, 'v1');
  // Asked while held: one timer for all of them, not one a write.
  expect(t.armedTimers() - armed).toBe(1);
  for (let i = 0; i < 10; i++) t.advance(50);
  expect(t.written).toEqual([]);
  expect(t.lane.sizes).toEqual({ inFlight: 0, queued: 0, timed: 0, held: 1000 });
  // One recheck every 50 ms for all of them, not one a write.
  expect(t.armedTimers() - armed).toBeLessThanOrEqual(12);
  busy = false;
  t.advance(50);
  expect(t.written).toHaveLength(1000);
  expect(t.written[0]).toEqual(['ns/o0', 'v1']);
  expect(t.lane.sizes.held).toBe(0);
});

test('with nothing being pushed, a write goes at once', () => {
  const t = setup({ busy: () => false });
  t.want('ns/a', 'v1');
  expect(t.written).toEqual([['ns/a', 'v1']]);
});
