// Checks of single values, shared by the kinds' validators. Each returns the broken rule as a
// message, or undefined when the value is fine.
import { isIP } from 'node:net';
import { RE2JS, RE2JSException, RE2JSSyntaxException } from 're2js';
import { parseDurationNs } from '../util/duration.js';

export { parseDurationNs };

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;

export interface DurationRule {
  /** The smallest allowed value: `1ms` (Istio's usual rule) or `0` (zero allowed, e.g. to disable). */
  min: '1ms' | '0';
  /** Precision required (Istio supports milliseconds; CORS max-age is in seconds). */
  precision?: 'ms' | 's';
}

export function durationProblem(value: unknown, rule: DurationRule = { min: '1ms' }): string | undefined {
  if (typeof value !== 'string') return `must be a duration string such as 1s, got ${JSON.stringify(value)}`;
  const ns = parseDurationNs(value.trim());
  if (ns === undefined) {
    return `invalid duration ${JSON.stringify(value)}: use a number and a unit (h, m, s, ms), e.g. 1h, 1m, 1s, 0.5s, 100ms`;
  }
  if (ns < 0n) return `must not be negative, got ${JSON.stringify(value)}`;
  if (rule.min === '1ms' && ns < NS_PER_MS) return `must be at least 1ms, got ${JSON.stringify(value)}`;
  const precision = rule.precision ?? 'ms';
  if (precision === 's' && ns % NS_PER_S !== 0n) return `must be a whole number of seconds, got ${JSON.stringify(value)}`;
  if (precision === 'ms' && ns % NS_PER_MS !== 0n) {
    return `must be a whole number of milliseconds, got ${JSON.stringify(value)}`;
  }
  return undefined;
}

/** Compiles with RE2 (the engine Envoy uses): lookarounds, backreferences etc. are rejected. */
export function regexProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value === '') return 'regex must not be empty';
  try {
    RE2JS.compile(value);
    return undefined;
  } catch (err) {
    if (err instanceof RE2JSSyntaxException) {
      const at = err.input ? `: \`${err.input}\`` : '';
      return `invalid RE2 regex ${JSON.stringify(value)}: ${err.error}${at}`;
    }
    if (err instanceof RE2JSException) return `invalid RE2 regex ${JSON.stringify(value)}: ${err.message}`;
    throw err;
  }
}

export function portProblem(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535) return undefined;
  return `must be between 1 and 65535, got ${JSON.stringify(value ?? 0)}`;
}

/** An integer or number between min and max, inclusive. */
export function rangeProblem(value: unknown, min: number, max: number): string | undefined {
  if (typeof value === 'number' && value >= min && value <= max) return undefined;
  return `must be between ${min} and ${max}, got ${JSON.stringify(value)}`;
}

export function percentProblem(value: unknown): string | undefined {
  return rangeProblem(value, 0, 100);
}

export function nonNegativeProblem(value: unknown): string | undefined {
  if (typeof value === 'number' && value >= 0) return undefined;
  return `must not be negative, got ${JSON.stringify(value)}`;
}

const DNS_LABEL = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const WILDCARD_LABEL = /^\*(?:-?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)?$/;

function labelProblem(label: string): string | undefined {
  if (label === '') return 'empty label (two dots in a row, or a leading dot)';
  if (label.length > 63) return `label ${JSON.stringify(label)} is longer than 63 characters`;
  if (label.includes('*')) return 'a wildcard is allowed only as the start of the first label, e.g. *.example.com';
  if (!DNS_LABEL.test(label)) {
    return `label ${JSON.stringify(label)} may contain only letters, digits and '-', and must start and end with a letter or digit`;
  }
  return undefined;
}

/**
 * A DNS name as Istio accepts it for hosts: labels of letters, digits and '-', an optional trailing
 * dot, a top-level label that is not all digits, and (when allowed) a wildcard first label
 * (`*`, `*.example.com`, `*-suffix.example.com`).
 */
export function hostProblem(value: unknown, opts: { wildcard: boolean }): string | undefined {
  if (typeof value !== 'string' || value === '') return 'host must not be empty';
  const host = value;
  const quoted = JSON.stringify(host);
  if (host.length > 255) return `invalid host ${quoted}: longer than 255 characters`;
  if (host === '*') return opts.wildcard ? undefined : `invalid host ${quoted}: wildcards are not allowed here`;
  const labels = host.endsWith('.') ? host.slice(0, -1).split('.') : host.split('.');
  const [first, ...rest] = labels;
  if (first.startsWith('*')) {
    if (!opts.wildcard) return `invalid host ${quoted}: wildcards are not allowed here`;
    if (!WILDCARD_LABEL.test(first) || first.length > 63) {
      return `invalid host ${quoted}: a wildcard is allowed only as the start of the first label, e.g. *.example.com`;
    }
  } else {
    const problem = labelProblem(first);
    if (problem) return `invalid host ${quoted}: ${problem}`;
  }
  for (const label of rest) {
    const problem = labelProblem(label);
    if (problem) return `invalid host ${quoted}: ${problem}`;
  }
  const last = labels[labels.length - 1];
  if (labels.length > 1 && /^\d+$/.test(last)) return `invalid host ${quoted}: the last label cannot be all digits`;
  return undefined;
}

/** A fully qualified or short DNS name without wildcards. */
export function isDnsName(value: string): boolean {
  return !value.includes('*') && hostProblem(value, { wildcard: false }) === undefined;
}

export function isIPAddress(value: string): boolean {
  return isIP(value) !== 0;
}

/** An IP address or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`). */
export function isIPOrCIDR(value: string): boolean {
  const slash = value.indexOf('/');
  if (slash < 0) return isIPAddress(value);
  const version = isIP(value.slice(0, slash));
  const bits = value.slice(slash + 1);
  if (version === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (version === 4 ? 32 : 128);
}

export function cidrProblem(value: unknown): string | undefined {
  if (typeof value === 'string' && isIPOrCIDR(value)) return undefined;
  return `invalid address ${JSON.stringify(value)}: must be an IP address or a CIDR block`;
}

const NAME_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/i;
const K8S_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

/** A namespace in a reference: a DNS label, case-insensitive as Istio checks it. */
export function namespaceProblem(value: unknown): string | undefined {
  if (typeof value === 'string' && value.length <= 63 && NAME_LABEL.test(value)) return undefined;
  return `invalid namespace ${JSON.stringify(value)}: use at most 63 letters, digits and '-'`;
}

/** An object name in a reference: a DNS subdomain, case-insensitive as Istio checks it. */
export function objectNameProblem(value: unknown): string | undefined {
  if (typeof value === 'string' && value.length <= 253 && K8S_SUBDOMAIN.test(value.toLowerCase())) return undefined;
  return `invalid name ${JSON.stringify(value)}: use letters, digits, '-' and '.'`;
}

/** A subset name as Istio accepts it: a DNS label (at most 63 letters, digits and '-'). */
export function subsetNameProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'subset name must not be empty';
  if (value.length <= 63 && DNS_LABEL.test(value)) return undefined;
  return `invalid subset name ${JSON.stringify(value)}: use at most 63 letters, digits and '-', starting and ending with a letter or digit`;
}

/** `mesh`, `<name>` or `<namespace>/<name>`. */
export function gatewayRefProblem(value: unknown): string | undefined {
  if (value === 'mesh') return undefined;
  const bad = `invalid gateway reference ${JSON.stringify(value)}: use mesh, <name> or <namespace>/<name>`;
  if (typeof value !== 'string') return bad;
  const parts = value.split('/');
  if (parts.length > 2) return bad;
  if (parts.length === 2 && namespaceProblem(parts[0])) return bad;
  return objectNameProblem(parts[parts.length - 1]) ? bad : undefined;
}

const LABEL_NAME = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;

export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const ok =
    name.length > 0 &&
    name.length <= 63 &&
    LABEL_NAME.test(name) &&
    (prefix === undefined || (prefix.length <= 253 && K8S_SUBDOMAIN.test(prefix)));
  if (ok) return undefined;
  return `invalid label key ${JSON.stringify(key)}: use [prefix/]name, the name at most 63 letters, digits, '-', '_' or '.'`;
}

export function labelValueProblem(value: unknown): string | undefined {
  if (typeof value === 'string' && (value === '' || (value.length <= 63 && LABEL_NAME.test(value)))) return undefined;
  return `invalid label value ${JSON.stringify(value)}: use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
}

const HEADER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function headerNameProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'header name must not be empty';
  if (HEADER_TOKEN.test(value)) return undefined;
  return `invalid header name ${JSON.stringify(value)}: use letters, digits and !#$%&'*+-.^_\`|~ only`;
}

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

/** Port protocols Istio understands (case-insensitive). */
export const PROTOCOLS = ['HTTP', 'HTTPS', 'HTTP2', 'GRPC', 'GRPC-WEB', 'TCP', 'TLS', 'UDP', 'MONGO', 'MYSQL', 'REDIS', 'HTTP_PROXY'];

export function protocolProblem(value: unknown): string | undefined {
  if (typeof value === 'string' && PROTOCOLS.includes(value.toUpperCase())) return undefined;
  return `unsupported protocol ${JSON.stringify(value)}; use one of ${PROTOCOLS.join(', ')}`;
}

/** The path after unix://: an abstract socket (`@name`) or an absolute path to a file. */
export function unixSocketPathProblem(path: string, example: string): string | undefined {
  if (path === '') return `unix:// needs a socket path, e.g. unix://${example}`;
  if (path.startsWith('@')) return undefined;
  if (!path.startsWith('/') || path.endsWith('/')) {
    return `unix socket path ${JSON.stringify(path)} must be an absolute path to a file (or @name for an abstract socket)`;
  }
  return undefined;
}
