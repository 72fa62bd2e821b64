// The access log parts of Istio's MeshConfig: envoyFileAccessLog providers, defaultProviders'
// accessLogging, and accessLogEncoding / accessLogFormat (the built-in `envoy` provider's format).
// A problem is an error at startup naming the field, as for the rest of the mesh configuration.
import { ErrorList } from './validate-errors.js';

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One provider's envoyFileAccessLog (`path`: where it sits in the file). */
export function validateFileAccessLogProvider(e: ErrorList, path: string, c: unknown): void {
  if (!isMap(c)) return e.add(path, 'must be a map');
  if (c.path !== undefined && (typeof c.path !== 'string' || c.path === '')) e.add(`${path}.path`, `must be a file path (default /dev/stdout), got ${JSON.stringify(c.path)}`);
  if (c.omitEmptyValues !== undefined && typeof c.omitEmptyValues !== 'boolean') e.add(`${path}.omitEmptyValues`, `must be true or false, got ${JSON.stringify(c.omitEmptyValues)}`);
  const f = c.logFormat;
  if (f === undefined || f === null) return;
  if (!isMap(f)) return e.add(`${path}.logFormat`, 'must be a map with text or labels');
  if (f.text !== undefined && f.labels !== undefined) e.add(`${path}.logFormat`, 'set only one of text and labels');
  if (f.text !== undefined && typeof f.text !== 'string') e.add(`${path}.logFormat.text`, `must be an Envoy format string, got ${JSON.stringify(f.text)}`);
  if (f.labels !== undefined && f.labels !== null && !isMap(f.labels)) e.add(`${path}.logFormat.labels`, `must be a map of JSON keys to format strings, got ${JSON.stringify(f.labels)}`);
}

/** defaultProviders.accessLogging, accessLogEncoding and accessLogFormat. */
export function validateMeshAccessLog(e: ErrorList, mesh: Record<string, unknown>): void {
  const defaults = mesh.defaultProviders;
  if (defaults !== undefined && defaults !== null) {
    if (!isMap(defaults)) e.add('defaultProviders', 'must be a map');
    else if (defaults.accessLogging !== undefined && !(Array.isArray(defaults.accessLogging) && defaults.accessLogging.every((n) => typeof n === 'string' && n !== ''))) {
      e.add('defaultProviders.accessLogging', `must be a list of provider names, got ${JSON.stringify(defaults.accessLogging)}`);
    }
  }
  const encoding = mesh.accessLogEncoding ?? 'TEXT';
  if (encoding !== 'TEXT' && encoding !== 'JSON') e.add('accessLogEncoding', `must be TEXT or JSON, got ${JSON.stringify(encoding)}`);
  const format = mesh.accessLogFormat;
  if (format === undefined || format === null || format === '') return;
  if (typeof format !== 'string') return e.add('accessLogFormat', `must be a string, got ${JSON.stringify(format)}`);
  if (encoding !== 'JSON') return;
  // Istio falls back to its default JSON format when this does not parse; an error at start says so instead.
  let parsed: unknown;
  try {
    parsed = JSON.parse(format);
  } catch (err) {
    return e.add('accessLogFormat', `must be a JSON object of keys to format strings when accessLogEncoding is JSON: ${(err as Error).message}`);
  }
  if (!isMap(parsed)) e.add('accessLogFormat', 'must be a JSON object of keys to format strings when accessLogEncoding is JSON');
}
