// Adaptive debouncing: an isolated change goes out at once; changes arriving in a burst are
// merged and go out when the burst pauses for `quietMs`, or `maxDelayMs` after the first one,
// whichever is sooner. One flush runs at a time; what arrives meanwhile waits for the next.
// A change that comes while an isolated change is being flushed makes it a burst: that flush is
// called off (its signal aborts), and what it had not reached goes out with the burst, due by
// the first change's maximum. Otherwise the burst would wait for a whole push of an intermediate
// state, which also takes the CPU the writes of the burst need.

export interface DebounceOptions {
  /** A change with no other change this long before it is isolated; a burst ends after this much quiet. */
  quietMs: number;
  /** The longest a change waits while a burst goes on. */
  maxDelayMs: number;
}

/**
 * Istio's defaults (PILOT_DEBOUNCE_AFTER, PILOT_DEBOUNCE_MAX). The maximum only matters while
 * changes keep coming less than `quietMs` apart: a shorter one pushes intermediate states that
 * the next push replaces, each costing every proxy a full route table of its port.
 */
export const DEFAULT_DEBOUNCE: DebounceOptions = { quietMs: 100, maxDelayMs: 10_000 };

export class Debouncer<T> {
  private pending: T | undefined;
  private firstPendingAt = 0;
  private lastChangeAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** The isolated flush in progress, called off if another change comes. */
  private isolatedFlush: AbortController | undefined;
  private idleWaiters: Array<() => void> = [];
  private idleAt = 0;
  private closed = false;

  constructor(
    /** Resolves 'called-off' if the signal made it leave part of the batch undone. */
    private readonly flushFn: (batch: T, signal?: AbortSignal) => Promise<void | 'called-off'>,
    private readonly merge: (a: T, b: T) => T,
    private readonly opts: DebounceOptions = DEFAULT_DEBOUNCE,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  add(change: T): void {
    if (this.closed) return;
    const now = Date.now();
    const isolated = this.pending === undefined && !this.flushing && now - this.lastChangeAt >= this.opts.quietMs;
    this.lastChangeAt = now;
    if (this.pending === undefined) {
      this.pending = change;
      this.firstPendingAt = now;
    } else {
      this.pending = this.merge(this.pending, change);
    }
    if (isolated) {
      this.flush(true);
    } else {
      this.isolatedFlush?.abort();
      this.schedule();
    }
  }

  /** Whether changes are waiting or being flushed. */
  get busy(): boolean {
    return this.pending !== undefined || this.flushing !== undefined;
  }

  /** When the debouncer last became idle (0: never busy yet). */
  get idleSince(): number {
    return this.idleAt;
  }

  /** Resolves when nothing is pending or being flushed. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops what is pending and stops timers (a flush in progress completes). */
  close(): void {
    this.closed = true;
    this.pending = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.flushing) this.notifyIdle();
  }

  private schedule(): void {
    if (this.flushing || this.pending === undefined) return; // rescheduled when the flush ends
    const due = Math.min(this.lastChangeAt + this.opts.quietMs, this.firstPendingAt + this.opts.maxDelayMs);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, Math.max(0, due - Date.now()));
  }

  private flush(isolated = false): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    if (batch === undefined || this.flushing) return;
    this.pending = undefined;
    const firstAt = this.firstPendingAt;
    const control = isolated ? new AbortController() : undefined;
    this.isolatedFlush = control;
    let calledOff = false;
    this.flushing = (async () => {
      try {
        calledOff = (await this.flushFn(batch, control?.signal)) === 'called-off';
      } catch (err) {
        this.onError(err);
      }
    })().finally(() => {
      this.flushing = undefined;
      this.isolatedFlush = undefined;
      if (calledOff && !this.closed) {
        // Called off by a burst: the batch goes again with it, due by its own first change.
        this.pending = this.pending === undefined ? batch : this.merge(batch, this.pending);
        this.firstPendingAt = firstAt;
      }
      if (this.pending !== undefined) this.schedule();
      else this.notifyIdle();
    });
  }

  private notifyIdle(): void {
    this.idleAt = Date.now();
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
