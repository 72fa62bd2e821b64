// When a controller's status writes go out. Per object: at most one write in flight and at most
// one write per interval; in all: at most `maxInFlight` writes in flight. A write asked for
// while the object's previous one is in flight, waits for its turn or is queued is folded into
// that next write, which sends what is wanted by the time it starts. Without the per-object and
// overall bounds, an API server slower than the statuses change (rollout progress on a thousand
// objects while hundreds of proxies sync) piled up writes of statuses already stale: 15,526
// requests in flight at 1,000 VirtualServices and 200 syncing proxies.

export interface StatusHold {
  /** Whether writes should wait now (configuration changes are being merged or pushed). */
  busy: () => boolean;
  /** The longest one object's write waits for `busy` to end. */
  maxMs: number;
  /** How often the waiting writes look at `busy` again (one timer for all of them). */
  recheckMs: number;
}

export interface StatusLaneOptions {
  intervalMs: number;
  maxInFlight: number;
  /**
   * Writes wait while this says busy, each at most `maxMs`: a burst of changes, and the push
   * that follows it, then get one write per object showing where they ended, rather than
   * several showing each step while they compete with the burst's own writes at the API server.
   */
  hold?: StatusHold;
  /** Sends the object's wanted status; undefined when there is nothing to send any more. */
  start: (key: string) => Promise<void> | undefined;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => NodeJS.Timeout;
}

export class StatusLane {
  private readonly inFlight = new Set<string>();
  /** Asked for again while in flight: asked once more when it lands. */
  private readonly again = new Set<string>();
  /** Waiting for a free slot, in the order asked. */
  private readonly queued = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly lastStart = new Map<string, number>();
  /** Waiting for the hold to end, in the order asked; one timer looks at them all. */
  private readonly held = new Set<string>();
  /** When each held object's write first waited for the hold. */
  private readonly heldSince = new Map<string, number>();
  private holdTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => NodeJS.Timeout;

  constructor(private readonly opts: StatusLaneOptions) {
    this.now = opts.now ?? Date.now;
    this.setTimer = opts.setTimer ?? setTimeout;
  }

  /** The object's status should be written (now, or as soon as its bounds allow). */
  request(key: string): void {
    if (this.stopped) return;
    if (this.inFlight.has(key)) {
      this.again.add(key);
      return;
    }
    if (this.timers.has(key) || this.queued.has(key) || this.held.has(key)) return;
    // Asked now: the hold's maximum counts from here, even while the interval keeps it waiting.
    const holding = this.holding(key);
    const wait = (this.lastStart.get(key) ?? -Infinity) + this.opts.intervalMs - this.now();
    if (wait > 0) {
      this.timers.set(
        key,
        this.setTimer(() => {
          this.timers.delete(key);
          this.request(key);
        }, wait),
      );
      return;
    }
    if (holding) {
      this.held.add(key);
      this.armHoldTimer();
      return;
    }
    if (this.inFlight.size >= this.opts.maxInFlight) {
      this.queued.add(key);
      return;
    }
    this.heldSince.delete(key);
    const write = this.opts.start(key);
    if (!write) return;
    this.inFlight.add(key);
    this.lastStart.set(key, this.now());
    void write.finally(() => {
      this.inFlight.delete(key);
      // Asked again meanwhile: behind those already waiting, so busy objects cannot keep every
      // slot to themselves.
      if (this.again.delete(key) && !this.stopped) this.queued.add(key);
      this.drain();
    });
  }

  /** The object is gone: nothing more is written for it. (A write in flight lands as it will.) */
  forget(key: string): void {
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    this.queued.delete(key);
    this.again.delete(key);
    this.held.delete(key);
    this.lastStart.delete(key);
    this.heldSince.delete(key);
  }

  /** Whether the hold keeps this object's write waiting now (busy, and its maximum not reached). */
  private holding(key: string): boolean {
    const hold = this.opts.hold;
    if (!hold?.busy()) return false;
    const now = this.now();
    let since = this.heldSince.get(key);
    if (since === undefined) this.heldSince.set(key, (since = now));
    return now < since + hold.maxMs;
  }

  /**
   * One timer for every held write, at the recheck interval or the first held write's maximum,
   * whichever comes first: during a burst a thousand objects may wait, and a timer each, every
   * recheck, would cost the push the CPU the hold is there to give it.
   */
  private armHoldTimer(): void {
    const hold = this.opts.hold;
    if (this.holdTimer !== undefined || this.held.size === 0 || !hold) return;
    let first = Infinity;
    for (const key of this.held) first = Math.min(first, this.heldSince.get(key) ?? this.now());
    this.holdTimer = this.setTimer(
      () => {
        const keys = [...this.held];
        this.held.clear();
        // Asked again in the order first asked; those still held go back to waiting (the timer
        // is re-armed once, after them all).
        for (const key of keys) this.request(key);
        this.holdTimer = undefined;
        this.armHoldTimer();
      },
      Math.max(0, Math.min(hold.recheckMs, first + hold.maxMs - this.now())),
    );
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    this.timers.clear();
    this.queued.clear();
    this.again.clear();
    this.held.clear();
    this.heldSince.clear();
  }

  /** Writes in flight and waiting (for the tests and the metrics). */
  get sizes(): { inFlight: number; queued: number; timed: number; held: number } {
    return { inFlight: this.inFlight.size, queued: this.queued.size, timed: this.timers.size, held: this.held.size };
  }

  private drain(): void {
    for (const key of this.queued) {
      if (this.inFlight.size >= this.opts.maxInFlight) return;
      this.queued.delete(key);
      this.request(key);
    }
  }
}
