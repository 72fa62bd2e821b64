// Runs async work over many items with at most `limit` in progress, yielding to the event loop
// between items so a big push never starves the streams' I/O (ACKs keep flowing meanwhile).

/**
 * Stops taking new items once `signal` is aborted (the items in progress finish). Resolves true
 * if every item was taken, false if the signal left some.
 */
export async function forEachBounded<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void> | void, signal?: AbortSignal): Promise<boolean> {
  const it = items[Symbol.iterator]();
  const workers: Promise<void>[] = [];
  let failure: unknown;
  const worker = async (): Promise<void> => {
    for (;;) {
      if (failure !== undefined || signal?.aborted) return;
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
  return !signal?.aborted || it.next().done === true;
}

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
