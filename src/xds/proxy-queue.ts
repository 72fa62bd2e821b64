// The proxies waiting to be evaluated (Istio's push queue): one entry per proxy, in the order
// they were first asked for. A proxy asked for again while it waits keeps its place and takes the
// new types and reason into the same evaluation. So a change that comes while a push is under way
// reaches the proxies that push has not reached yet without evaluating them twice, and starts at
// once instead of after the whole push; the proxies already evaluated go to the back. Nobody
// starves: a proxy's place never moves back while it waits.
import { yieldToEventLoop } from './bounded.js';

/** What one evaluation of a proxy covers: every push it stood for, merged. */
export interface QueuedPush<T> {
  readonly types: ReadonlySet<T>;
  readonly reasons: ReadonlySet<string>;
  /** When the earliest of those pushes began (for the latency metrics). */
  readonly startedAt: number;
}

/** One push's proxies still to evaluate; settles when none is left. */
interface Ticket {
  left: number;
  error: unknown;
  settle: (error: unknown) => void;
}

interface Entry<T> {
  types: Set<T>;
  reasons: Set<string>;
  startedAt: number;
  tickets: Ticket[];
}

export class ProxyQueue<P, T> {
  private readonly waiting = new Map<P, Entry<T>>();
  private workers = 0;

  constructor(
    /** Evaluations at once. */
    private readonly limit: number,
    private readonly evaluate: (proxy: P, push: QueuedPush<T>) => Promise<void>,
  ) {}

  /** Proxies waiting (not those being evaluated). */
  get size(): number {
    return this.waiting.size;
  }

  /**
   * Queues each proxy for `types`. Resolves once each of them has been evaluated for them, in
   * this push's evaluation or in one it was merged into; rejects with the first failure.
   */
  enqueue(proxies: Iterable<P>, types: ReadonlySet<T>, reason: string, startedAt: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const ticket: Ticket = {
        left: 1, // released below, once every proxy is queued
        error: undefined,
        settle: (error) => {
          ticket.error ??= error;
          if (--ticket.left > 0) return;
          if (ticket.error !== undefined) reject(ticket.error);
          else resolve();
        },
      };
      for (const p of proxies) {
        let e = this.waiting.get(p);
        if (!e) {
          e = { types: new Set(), reasons: new Set(), startedAt, tickets: [] };
          this.waiting.set(p, e);
        }
        for (const t of types) e.types.add(t);
        e.reasons.add(reason);
        if (startedAt < e.startedAt) e.startedAt = startedAt;
        e.tickets.push(ticket);
        ticket.left++;
      }
      while (this.workers < this.limit && this.workers < this.waiting.size) {
        this.workers++;
        void this.work();
      }
      ticket.settle(undefined);
    });
  }

  private async work(): Promise<void> {
    try {
      for (;;) {
        const next = this.waiting.entries().next();
        if (next.done) return;
        const [proxy, entry] = next.value;
        this.waiting.delete(proxy);
        let error: unknown;
        try {
          await this.evaluate(proxy, entry);
        } catch (err) {
          error = err ?? new Error('evaluation failed');
        }
        for (const t of entry.tickets) t.settle(error);
        // Between proxies, the streams' I/O (ACKs, requests) gets its turn.
        await yieldToEventLoop();
      }
    } finally {
      this.workers--;
    }
  }
}
