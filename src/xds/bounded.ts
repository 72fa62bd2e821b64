// Runs async work over many items with at most `limit` in progress, yielding to the event loop
// between items so a big push never starves the streams' I/O (ACKs keep flowing meanwhile).

export async function forEachBounded<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void> | void): Promise<void> {
  const it = items[Symbol.iterator]();
  const workers: Promise<void>[] = [];
  let failure: unknown;
  const worker = async (): Promise<void> => {
    for (;;) {
      if (failure !== undefined) return;
      const next = it.next();
      if (next.done) return;
      try {
        await fn(next.value);
      } catch (err) {
        failure ??= err;
        return;
      }
      await yieldToEventLoop();
    }
  };
  for (let i = 0; i < Math.max(1, limit); i++) workers.push(worker());
  await Promise.all(workers);
  if (failure !== undefined) throw failure;
}

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
