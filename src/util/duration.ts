// Durations as Istio reads them (Go's duration syntax): the one parser, used by validation
// (src/api/validate-primitives.ts), translation (src/translate/duration.ts) and the tools.

const NS_PER = { ns: 1n, us: 1_000n, µs: 1_000n, μs: 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };
const MAX_DURATION_NS = 2n ** 63n - 1n;
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * Parses a duration as Istio reads it (Go's duration syntax: `1s`, `0.5s`, `100ms`, `1h`, `1m`,
 * `1h30m`). Returns nanoseconds, or undefined when the text is not a duration.
 */
export function parseDurationNs(text: string): bigint | undefined {
  let rest = text;
  let sign = 1n;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1n : 1n;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0n;
  if (rest === '') return undefined;
  let total = 0n;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < rest.length) {
    const start = DURATION_PART.lastIndex;
    const m = DURATION_PART.exec(rest);
    if (!m || m.index !== start) return undefined;
    const unit = NS_PER[m[2] as keyof typeof NS_PER];
    const [whole, frac = ''] = m[1].split('.');
    total += BigInt(whole === '' ? '0' : whole) * unit;
    if (frac !== '') total += (BigInt(frac) * unit) / 10n ** BigInt(frac.length);
    if (total > MAX_DURATION_NS) return undefined;
  }
  return sign * total;
}

/**
 * A non-negative duration ("1s", "0.5s", "100ms", "1h30m") in milliseconds, by parseDurationNs;
 * undefined when the text is not one. Stricter than Go on the surface: no sign, no bare "0",
 * and no number ending in a dot ("1.s").
 */
export function parseDurationMs(text: string): number | undefined {
  const t = text.trim();
  if (!/^[\d.]/.test(t) || /\.(?!\d)/.test(t)) return undefined;
  const ns = parseDurationNs(t);
  return ns === undefined || t === '0' ? undefined : Number(ns) / 1e6;
}

/** A protobuf Duration's fields ({seconds, nanos}): what Envoy's config takes. */
export interface SecondsNanos {
  seconds: number;
  nanos: number;
}

const NS_PER_S = 1_000_000_000n;

/** A non-negative nanosecond count as seconds and nanos (exact: no floating point). */
export function secondsNanos(ns: bigint): SecondsNanos {
  return { seconds: Number(ns / NS_PER_S), nanos: Number(ns % NS_PER_S) };
}

/** An Istio duration string as seconds and nanos; undefined when absent, unparsable or negative. */
export function parseSecondsNanos(text: string | undefined): SecondsNanos | undefined {
  if (text === undefined) return undefined;
  const ns = parseDurationNs(text.trim());
  return ns === undefined || ns < 0n ? undefined : secondsNanos(ns);
}
