// What one xDS client may cost the control plane. Every bound refuses the excess with a gRPC
// status on that client's stream (logged, counted in trellis_xds_limited_total) and never queues
// it: a misbehaving or hostile client degrades itself, never the proxies beside it.
import { availableParallelism } from 'node:os';
import { Counter } from 'prom-client';
import { registry } from '../util/metrics.js';

export interface XdsLimits {
  /** Largest request accepted, in bytes (Istio's default is 4 MiB too). */
  readonly maxMessageBytes: number;
  /** Concurrent streams on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxStreamsPerConnection: number;
  /** Open streams of one workload identity (one namespace/service account; one peer address on the plaintext port). */
  readonly maxStreamsPerIdentity: number;
  /** Resource names one stream may subscribe to, per type. */
  readonly maxNamesPerType: number;
  /** Sustained requests per second on one stream, and the burst allowed above it. */
  readonly requestsPerSecond: number;
  readonly requestBurst: number;
  /** New streams admitted per second across the server (a reconnect storm waits its turn), and the burst. */
  readonly admissionsPerSecond: number;
  readonly admissionBurst: number;
  /** New streams allowed to wait for admission; beyond, UNAVAILABLE (the client retries later). */
  readonly maxWaitingAdmissions: number;
  /** Longest NACK error detail kept, logged or shown, in characters. */
  readonly maxNackDetailChars: number;
}

/**
 * New streams per second by default: Istio's rule since 1.21 (min(15 + 5 × CPUs, 100); 25 on 2
 * CPUs). Measured here (BENCHMARKS.md, xds-abuse): during a storm of 1,000 new clients, 25/s kept
 * the pushes to connected proxies near their usual latency (p50 246 ms against 173 ms without a
 * storm) where 50/s and more let it reach about a second.
 */
export const DEFAULT_ADMISSION_RATE = Math.min(15 + 5 * availableParallelism(), 100);

export const DEFAULT_XDS_LIMITS: XdsLimits = {
  maxMessageBytes: 4 * 1024 * 1024,
  maxStreamsPerConnection: 64,
  maxStreamsPerIdentity: 1000,
  maxNamesPerType: 50_000,
  requestsPerSecond: 100,
  requestBurst: 500,
  admissionsPerSecond: DEFAULT_ADMISSION_RATE,
  admissionBurst: DEFAULT_ADMISSION_RATE,
  maxWaitingAdmissions: 5000,
  maxNackDetailChars: 4096,
};

export const limited = new Counter({
  name: 'trellis_xds_limited_total',
  help: 'xDS streams refused or ended by a limit, by limit (message-size, streams-per-identity, names, request-rate, admission).',
  labelNames: ['limit'] as const,
  registers: [registry],
});

/** A token bucket: `take` is true while tokens last; they refill at `rate` per second up to `burst`. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = this.now();
  }

  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until the next token. */
  wait(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.rate) * 1000);
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }
}

/** `text` cut to `max` characters, saying how much was cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters not kept)`;
}

/**
 * Admits new streams at a bounded rate, first come first served. `admit` resolves when the
 * stream may proceed, or false at once when too many are already waiting.
 */
export class AdmissionGate {
  private readonly bucket: TokenBucket;
  private readonly waiting: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    rate: number,
    burst: number,
    private readonly maxWaiting: number,
  ) {
    this.bucket = new TokenBucket(rate, burst);
  }

  get queued(): number {
    return this.waiting.length;
  }

  admit(): Promise<boolean> | boolean {
    if (this.waiting.length === 0 && this.bucket.take()) return true;
    if (this.waiting.length >= this.maxWaiting) return false;
    return new Promise<boolean>((resolve) => {
      this.waiting.push(() => resolve(true));
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer || this.waiting.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      while (this.waiting.length > 0 && this.bucket.take()) this.waiting.shift()?.();
      this.schedule();
    }, Math.max(1, this.bucket.wait()));
    this.timer.unref();
  }
}
