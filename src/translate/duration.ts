// Istio durations (Go syntax: "1s", "0.5s", "100ms", "1h30m") as protobuf Durations: the
// parsing is util/duration.ts's, shared with the model.
import type { Duration } from '../xds/generated/google/protobuf/Duration.js';
import { parseSecondsNanos, secondsNanos } from '../util/duration.js';

/** The Duration of a non-negative nanosecond count (exact: no floating point). */
export const durationFromNs = (ns: bigint): Duration => secondsNanos(ns);

/** The Duration of an Istio duration string; undefined when absent, unparsable or negative. */
export const duration = (text: string | undefined): Duration | undefined => parseSecondsNanos(text);
