// Istio durations (Go syntax: "1s", "0.5s", "100ms", "1h30m") as protobuf Durations.
import type { Duration } from '../xds/generated/google/protobuf/Duration.js';
import { parseDurationNs } from '../util/duration.js';

const NS_PER_S = 1_000_000_000n;

/** The Duration of a non-negative nanosecond count (exact: no floating point). */
export function durationFromNs(ns: bigint): Duration {
  return { seconds: Number(ns / NS_PER_S), nanos: Number(ns % NS_PER_S) };
}

/** The Duration of an Istio duration string; undefined when absent, unparsable or negative. */
export function duration(text: string | undefined): Duration | undefined {
  if (text === undefined) return undefined;
  const ns = parseDurationNs(text.trim());
  return ns === undefined || ns < 0n ? undefined : durationFromNs(ns);
}
