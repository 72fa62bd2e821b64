// Label selectors: a selector matches labels that carry every one of its key/value pairs.
import type { Labels } from '../api/common.js';

export function labelsMatch(selector: Labels, labels: Labels): boolean {
  // A loop, no pairs allocated: this runs for every proxy against every service of its namespace.
  for (const k of Object.keys(selector)) if (labels[k] !== selector[k]) return false;
  return true;
}

export function sameLabels(a: Labels | undefined, b: Labels | undefined): boolean {
  const ka = Object.keys(a ?? {});
  return ka.length === Object.keys(b ?? {}).length && ka.every((k) => (a ?? {})[k] === (b ?? {})[k]);
}
