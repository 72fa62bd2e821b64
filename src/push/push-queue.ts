// The push pipeline's entry: changes (which proxies, which resource types, why) are merged and
// handed to the xDS server's push, one push at a time. Configuration changes are debounced (a
// burst is merged into one push). Endpoint-only changes are not: they go out as soon as the push
// in progress ends, merged with whatever endpoint changes arrived meanwhile. An endpoint push
// names only the assignments that changed, so it is cheap, and under steady churn (pods coming
// and going every few milliseconds) a quiet period would never come and every endpoint would
// wait the debounce's maximum. Istio debounces EDS too (PILOT_ENABLE_EDS_DEBOUNCE); this is
// where Trellis parts from it, for the latency of endpoint changes, without changing what any
// proxy ends up with.
import { loggerFor } from '../util/logger.js';
import { TypeUrl } from '../xds/types.js';
import { Debouncer, DEFAULT_DEBOUNCE, type DebounceOptions } from './debouncer.js';

const log = loggerFor('push');

export interface Change {
  /** Why (metric label): e.g. "config", "endpoints", "secrets", "proxy". */
  reason: string;
  /** Node ids affected; all proxies when absent. */
  proxies?: Iterable<string>;
  /** Resource type URLs affected; all types when absent. */
  types?: Iterable<string>;
}

/** Changes merged: undefined means "all". */
export interface MergedChange {
  readonly reasons: ReadonlySet<string>;
  readonly proxies: ReadonlySet<string> | undefined;
  readonly types: ReadonlySet<string> | undefined;
}

export function toMerged(c: Change): MergedChange {
  return { reasons: new Set([c.reason]), proxies: c.proxies ? new Set(c.proxies) : undefined, types: c.types ? new Set(c.types) : undefined };
}

function union(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): ReadonlySet<string> | undefined {
  return a && b ? new Set([...a, ...b]) : undefined;
}

export function mergeChanges(a: MergedChange, b: MergedChange): MergedChange {
  return { reasons: new Set([...a.reasons, ...b.reasons]), proxies: union(a.proxies, b.proxies), types: union(a.types, b.types) };
}

/** What the queue drives: XdsServer satisfies it. */
export interface PushTarget {
  /** calledOff: the signal left some proxies unevaluated. */
  push(req: { reason: string; proxies?: Iterable<string>; types?: Iterable<string>; signal?: AbortSignal }): Promise<{ calledOff?: boolean } | void>;
}

/** A change that touches only endpoint assignments (EDS), skipping the debounce. */
export function endpointsOnly(c: Change): boolean {
  if (!c.types) return false;
  const types = [...c.types];
  return types.length > 0 && types.every((t) => t === TypeUrl.Endpoint);
}

export class PushQueue {
  private readonly debouncer: Debouncer<MergedChange>;
  /** Endpoint-only changes waiting for the push in progress to end. */
  private endpoints: MergedChange | undefined;
  private endpointFlush: Promise<void> | undefined;
  /** One push at a time, from either path. */
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly target: PushTarget,
    opts: DebounceOptions = DEFAULT_DEBOUNCE,
  ) {
    this.debouncer = new Debouncer<MergedChange>((c, signal) => this.serially(() => c, signal), mergeChanges, opts, (err) => this.failed(err));
  }

  enqueue(change: Change): void {
    if (this.closed) return;
    if (!endpointsOnly(change)) {
      this.debouncer.add(toMerged(change));
      return;
    }
    this.endpoints = this.endpoints ? mergeChanges(this.endpoints, toMerged(change)) : toMerged(change);
    this.endpointFlush ??= this.flushEndpoints();
  }

  /** How long configuration has been neither merged (a burst) nor pushed (0 while it is; ms); endpoint pushes aside. */
  configIdleForMs(now = Date.now()): number {
    return this.debouncer.busy ? 0 : now - this.debouncer.idleSince;
  }

  /** Resolves once every enqueued change has been pushed. */
  async idle(): Promise<void> {
    while (this.endpointFlush || this.endpoints) {
      await this.endpointFlush;
      await this.debouncer.idle();
    }
    await this.debouncer.idle();
    await this.endpointFlush;
  }

  close(): void {
    this.closed = true;
    this.endpoints = undefined;
    this.debouncer.close();
  }

  /** Pushes endpoint changes until none is waiting; each push takes all that waited for it. */
  private async flushEndpoints(): Promise<void> {
    try {
      // Changes of one watch delivery arrive in one synchronous run: let them all in.
      await Promise.resolve();
      while (this.endpoints && !this.closed) {
        await this.serially(() => {
          const batch = this.endpoints;
          this.endpoints = undefined;
          return batch;
        }).catch((err: unknown) => this.failed(err));
      }
    } finally {
      this.endpointFlush = undefined;
    }
  }

  /** Runs one push after the one in progress; `take` picks the batch when its turn comes. */
  private serially(take: () => MergedChange | undefined, signal?: AbortSignal): Promise<void | 'called-off'> {
    const run = this.chain.then(async () => {
      const c = take();
      if (!c) return undefined;
      const r = await this.target.push({ reason: [...c.reasons].sort().join('+'), proxies: c.proxies, types: c.types, signal });
      return r?.calledOff ? ('called-off' as const) : undefined;
    });
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private failed(err: unknown): void {
    log.error('push failed', { error: err instanceof Error ? err.message : String(err) });
  }
}
