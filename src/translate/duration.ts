// Istio durations ("1s", "0.5s", "100ms", "1m", "1h") as protobuf Durations.
import type { Duration } from '../xds/generated/google/protobuf/Duration.js';
import { parseDurationMs } from '../util/duration.js';

export function durationFromMs(ms: number): Duration {
  const whole = Math.floor(ms / 1000);
  return { seconds: whole, nanos: Math.round((ms - whole * 1000) * 1e6) };
}

/** The Duration of an Istio duration string; undefined when absent or unparsable. */
export function duration(text: string | undefined): Duration | undefined {
  if (text === undefined) return undefined;
  const ms = parseDurationMs(text);
  return ms === undefined ? undefined : durationFromMs(ms);
}
