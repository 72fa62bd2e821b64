// The push pipeline's entry: changes (which proxies, which resource types, why) are merged and
// debounced, then handed to the xDS server's push. An endpoint-only change names only the EDS
// type, so only EDS is re-evaluated and sent.
import { loggerFor } from '../util/logger.js';
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
  push(req: { reason: string; proxies?: Iterable<string>; types?: Iterable<string> }): Promise<unknown>;
}

export class PushQueue {
  private readonly debouncer: Debouncer<MergedChange>;

  constructor(target: PushTarget, opts: DebounceOptions = DEFAULT_DEBOUNCE) {
    this.debouncer = new Debouncer<MergedChange>(
      (c) => target.push({ reason: [...c.reasons].sort().join('+'), proxies: c.proxies, types: c.types }).then(() => undefined),
      mergeChanges,
      opts,
      (err) => log.error('push failed', { error: err instanceof Error ? err.message : String(err) }),
    );
  }

  enqueue(change: Change): void {
    this.debouncer.add(toMerged(change));
  }

  /** Resolves once every enqueued change has been pushed. */
  idle(): Promise<void> {
    return this.debouncer.idle();
  }

  close(): void {
    this.debouncer.close();
  }
}
