// Telemetry validation with Istio's rules (its webhook's ValidateTelemetry: one of selector and
// targetRef(s), the selector's labels, each targetRef; provider names not empty; an access log
// filter that parses as CEL; tag overrides' value with their operation; a tracing sampling
// percentage between 0 and 100) and its warnings (more than one tracing entry or provider).
// The match modes are checked here (the CRD leaves them open, so the webhook's message answers);
// the other enum and type rules are the CRD schema's (crds/telemetry.yaml), checked by validate().
import { celSyntaxProblem } from './cel-syntax.js';
import type { TelemetrySpec } from './telemetry.js';
import { ErrorList, isSet, type ValidationError } from './validate-errors.js';
import { isMap, kindOf, listAt, stringAt, validateWorkloadTargeting } from './validate-security-common.js';

export function validateTelemetry(spec: TelemetrySpec): ValidationError[] {
  const e = new ErrorList();
  const s = spec as unknown as Record<string, unknown>;
  validateWorkloadTargeting(e, s);
  for (const [p, log] of entriesAt(e, 'spec.accessLogging', s.accessLogging)) {
    validateProviders(e, p, log.providers);
    validateMode(e, p, log.match);
    if (!isSet(log.filter)) continue;
    if (!isMap(log.filter)) {
      e.add(`${p}.filter`, `must be an object with an expression, got ${kindOf(log.filter)}`);
      continue;
    }
    const expression = stringAt(e, `${p}.filter.expression`, log.filter.expression) ?? (isSet(log.filter.expression) ? undefined : '');
    if (expression !== undefined) e.check(`${p}.filter.expression`, celProblem(expression));
  }
  for (const [p, metrics] of entriesAt(e, 'spec.metrics', s.metrics)) {
    validateProviders(e, p, metrics.providers);
    for (const [q, override] of entriesAt(e, `${p}.overrides`, metrics.overrides)) {
      validateMode(e, q, override.match);
      if (isMap(override.match) && override.match.customMetric === '') e.add(`${q}.match.customMetric`, 'may not be empty');
      if (!isMap(override.tagOverrides)) continue;
      for (const [tag, to] of Object.entries(override.tagOverrides)) {
        const t = `${q}.tagOverrides[${tag}]`;
        if (!isMap(to)) e.add(t, `may not be null, got ${kindOf(to)}`);
        else if ((to.operation ?? 'UPSERT') === 'UPSERT' && !to.value) e.add(`${t}.value`, 'must be set when operation is UPSERT');
        else if (to.operation === 'REMOVE' && isSet(to.value) && to.value !== '') e.add(`${t}.value`, 'may only be set when operation is UPSERT');
      }
    }
  }
  for (const [p, tracing] of entriesAt(e, 'spec.tracing', s.tracing)) {
    validateProviders(e, p, tracing.providers);
    validateMode(e, p, tracing.match);
    const pct = tracing.randomSamplingPercentage;
    if (typeof pct === 'number' && !(pct >= 0 && pct <= 100)) e.add(`${p}.randomSamplingPercentage`, `must be in range [0.0, 100.0], got ${pct}`);
  }
  return e.errors;
}

/** Istio's warnings: it uses only the first tracing entry, and the first provider of one. */
export function telemetryWarnings(spec: TelemetrySpec): ValidationError[] {
  const out: ValidationError[] = [];
  const tracing = Array.isArray(spec.tracing) ? spec.tracing : [];
  if (tracing.length > 1) out.push({ path: 'spec.tracing', message: 'multiple tracing is not currently supported' });
  tracing.forEach((t, i) => {
    if ((t?.providers?.length ?? 0) > 1) out.push({ path: `spec.tracing[${i}].providers`, message: 'multiple providers is not currently supported' });
  });
  return out;
}

function celProblem(expression: string): string | undefined {
  const problem = celSyntaxProblem(expression);
  return problem === undefined ? undefined : `must be a valid CEL expression (the access log filter Envoy evaluates), ${problem}: ${JSON.stringify(expression)}`;
}

/** The elements of a list of objects with their paths; an element that is not an object is reported. */
function entriesAt(e: ErrorList, path: string, value: unknown): [string, Record<string, unknown>][] {
  return listAt(e, path, value, 'entries').flatMap(([p, item]): [string, Record<string, unknown>][] => {
    if (isMap(item)) return [[p, item]];
    if (isSet(item)) e.add(p, `must be an object, got ${kindOf(item)}`);
    return [];
  });
}

const MODES = ['CLIENT_AND_SERVER', 'CLIENT', 'SERVER'];

/** `match.mode`: which side of the traffic an entry applies to. */
function validateMode(e: ErrorList, path: string, match: unknown): void {
  const mode = isMap(match) ? match.mode : undefined;
  if (isSet(mode) && !MODES.includes(mode as string)) e.add(`${path}.match.mode`, `must be one of ${MODES.join(', ')}, got ${JSON.stringify(mode)}`);
}

function validateProviders(e: ErrorList, path: string, providers: unknown): void {
  for (const [p, ref] of listAt(e, `${path}.providers`, providers, 'provider references')) {
    const name = isMap(ref) ? stringAt(e, `${p}.name`, ref.name) : undefined;
    if (!isMap(ref) || !name || name.trim() === '') e.add(`${p}.name`, 'may not be empty: the name of a provider of the mesh configuration (e.g. envoy)');
  }
}
