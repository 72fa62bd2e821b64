// Prometheus's text exposition format (0.0.4, as Envoy's /stats/prometheus and prom-client write
// it; OpenMetrics text reads the same for what is used here): the samples, each with its name,
// labels, value and, when the line has one, its timestamp. Comments (`# HELP`, `# TYPE`, `# EOF`,
// any other `#` line) and blank lines are skipped. Values are Go's float syntax as Prometheus reads
// it: `+Inf`, `-Inf`, `NaN` (any case), exponents. Label values undo the format's escapes (`\\`,
// `\"`, `\n`). A malformed line is skipped and reported to `onError`, never thrown: a scrape
// with one bad line still gives the rest. Pure.
//
// No npm package is used: the one parser on npm for this format (parse-prometheus-text-format)
// has had no release since 2018, ships no types, and groups samples into families with string
// values, which every caller here would undo.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  /** Milliseconds since the epoch, when the line gave one. */
  timestampMs?: number;
}

// Sticky: each matches at lastIndex only.
const NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL = /[a-zA-Z_][a-zA-Z0-9_]*/y;

/** A float as Go's strconv.ParseFloat (what Prometheus uses) reads it; undefined if it is none. */
export function parseFloatValue(s: string): number | undefined {
  if (/^[+-]?(?:inf|infinity)$/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(s)) return NaN;
  // Decimal with optional exponent (Number() alone would also take '', ' ', '0b1', 'Infinity').
  if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}

class LineError extends Error {}

/** Reads one sample line; throws LineError on anything malformed. */
function parseLine(line: string): Sample {
  let i = 0;
  const fail = (what: string): LineError => new LineError(`${what} at column ${i + 1}`);
  const skipSpace = (): void => {
    while (line[i] === ' ' || line[i] === '\t') i++;
  };
  NAME.lastIndex = i;
  if (!NAME.test(line)) throw fail('expected a metric name');
  i = NAME.lastIndex;
  const name = line.slice(0, i);
  const labels: Record<string, string> = {};
  const afterName = i;
  skipSpace();
  if (line[i] === '{') {
    i++;
    for (;;) {
      skipSpace();
      if (line[i] === '}') break;
      LABEL.lastIndex = i;
      if (!LABEL.test(line)) throw fail('expected a label name');
      const label = line.slice(i, LABEL.lastIndex);
      i = LABEL.lastIndex;
      skipSpace();
      if (line[i] !== '=') throw fail(`expected "=" after label ${label}`);
      i++;
      skipSpace();
      if (line[i] !== '"') throw fail(`expected a quoted value for label ${label}`);
      i++;
      let value: string;
      const close = line.indexOf('"', i);
      const escape = line.indexOf('\\', i);
      if (close >= 0 && (escape < 0 || escape > close)) {
        // The common case, no escape in the value: one slice (a scrape holds thousands).
        value = line.slice(i, close);
        i = close + 1;
      } else {
        value = '';
        for (;;) {
          const c = line[i];
          if (c === undefined) throw fail(`unterminated value of label ${label}`);
          i++;
          if (c === '"') break;
          if (c === '\\') {
            const e = line[i];
            i++;
            if (e === 'n') value += '\n';
            else if (e === '\\' || e === '"') value += e;
            else if (e === undefined) throw fail(`unterminated value of label ${label}`);
            else value += '\\' + e;
          } else value += c;
        }
      }
      if (Object.hasOwn(labels, label)) throw fail(`label ${label} given twice`);
      // defineProperty: a label named __proto__ stays a label.
      if (label === '__proto__') Object.defineProperty(labels, label, { value, enumerable: true, writable: true, configurable: true });
      else labels[label] = value;
      skipSpace();
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw fail('expected "," or "}"');
    }
    i++;
  } else if (i === afterName) throw fail('expected a space after the metric name');
  const rest = line.slice(i).trim().split(/[ \t]+/);
  if (rest[0] === '') throw fail('expected a value');
  if (rest.length > 2) throw fail('unexpected text after the timestamp');
  const value = parseFloatValue(rest[0]);
  if (value === undefined) throw fail(`"${rest[0]}" is not a number`);
  const sample: Sample = { name, labels, value };
  if (rest.length === 2) {
    if (!/^-?\d+$/.test(rest[1])) throw fail(`"${rest[1]}" is not a timestamp`);
    sample.timestampMs = Number(rest[1]);
  }
  return sample;
}

/**
 * The samples of a scrape, in the order written. `onError` hears of each skipped line (1-based
 * line number, what was wrong).
 */
export function parsePrometheusText(text: string, onError?: (line: number, message: string) => void): Sample[] {
  const out: Sample[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].endsWith('\r') ? lines[n].slice(0, -1) : lines[n];
    const start = line.search(/[^ \t]/);
    if (start < 0 || line[start] === '#') continue;
    try {
      out.push(parseLine(line.slice(start)));
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      onError?.(n + 1, err.message);
    }
  }
  return out;
}
