// Validators for structures shared by several kinds: string matches, labels, exportTo.
import type { StringMatch } from './common.js';
import { ErrorList, entries, isSet, list } from './validate-errors.js';
import { labelKeyProblem, labelValueProblem, namespaceProblem, regexProblem } from './validate-primitives.js';

/** At most one of exact, prefix or regex; a regex must compile with RE2. `{}` (presence) is allowed. */
export function validateStringMatch(e: ErrorList, path: string, match: StringMatch | undefined | null): void {
  if (!isSet(match)) return;
  const set = (['exact', 'prefix', 'regex'] as const).filter((k) => isSet(match[k]));
  if (set.length > 1) {
    e.add(path, `only one of exact, prefix or regex may be set, got ${set.join(' and ')}`);
    return;
  }
  if (isSet(match.regex)) e.check(`${path}.regex`, regexProblem(match.regex));
}

export function validateStringMatchMap(e: ErrorList, path: string, map: Record<string, StringMatch> | undefined): void {
  for (const [key, match] of entries(map)) {
    if (key === '') e.add(`${path}[]`, 'name must not be empty');
    validateStringMatch(e, `${path}[${key}]`, match);
  }
}

export function validateLabels(e: ErrorList, path: string, labels: Record<string, string> | undefined): void {
  for (const [key, value] of entries(labels)) {
    e.check(`${path}[${key}]`, labelKeyProblem(key) ?? labelValueProblem(value));
  }
}

/** `.` (this namespace), `*` (all), `~` (none) or namespace names; no duplicates; `*` and `~` alone. */
export function validateExportTo(e: ErrorList, exportTo: readonly string[] | undefined): void {
  const values = list(exportTo);
  const seen = new Set<string>();
  values.forEach((value, i) => {
    const path = `spec.exportTo[${i}]`;
    if (seen.has(value)) e.add(path, `duplicate value ${JSON.stringify(value)}`);
    else if (value !== '.' && value !== '*' && value !== '~' && namespaceProblem(value)) {
      e.add(path, `invalid value ${JSON.stringify(value)}: use ".", "*" or a namespace name`);
    }
    seen.add(value);
  });
  for (const exclusive of ['*', '~']) {
    if (seen.has(exclusive) && seen.size > 1) {
      e.add('spec.exportTo', `${JSON.stringify(exclusive)} cannot be combined with other values`);
    }
  }
}

