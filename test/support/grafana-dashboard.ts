// The chart's Grafana dashboard as tests read it: its queries (panels' targets and query
// variables) and, of each PromQL expression, the metrics it selects with the labels it matches
// on, and the labels it groups by. A small PromQL reader, enough for what a dashboard writes:
// it throws on anything it does not know, so a query it cannot read fails the test.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DASHBOARD_FILE = path.join(root, 'charts/trellis/dashboards/trellis-mesh.json');

export interface Target {
  refId?: string;
  expr?: string;
  legendFormat?: string;
  datasource?: { type?: string; uid?: string };
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  panels?: Panel[];
}

export interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  datasource?: { type?: string; uid?: string };
}

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

export function readDashboard(file = DASHBOARD_FILE): Dashboard {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Dashboard;
}

/** Every panel, rows' (collapsed or not) included, in order. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** One PromQL expression of the dashboard: where it is, and the legend that names its series. */
export interface Query {
  where: string;
  expr: string;
  legendFormat?: string;
}

/**
 * Every query: each panel target's expression, and each query variable's (Grafana's
 * `label_values(<selector>, <label>)` read as the selector, grouped by the label).
 */
export function dashboardQueries(d: Dashboard): Query[] {
  const out: Query[] = [];
  for (const p of allPanels(d)) {
    for (const t of p.targets ?? []) if (t.expr !== undefined) out.push({ where: `panel "${p.title}" target ${t.refId ?? '?'}`, expr: t.expr, legendFormat: t.legendFormat });
  }
  for (const v of d.templating.list.filter((x) => x.type === 'query')) {
    const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    const m = /^\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s.exec(q);
    out.push({ where: `variable $${v.name}`, expr: m ? `count by (${m[2]}) (${m[1]})` : q });
  }
  return out;
}

/** A vector selector: the metric and the label names it matches on. */
export interface Selector {
  metric: string;
  labels: string[];
}

export interface ReadQuery {
  selectors: Selector[];
  /** Labels named by `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`. */
  grouping: string[];
}

const AGGREGATORS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const BINARY_WORDS = new Set(['and', 'or', 'unless', 'bool', 'atan2']);
const NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const MATCHER = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*(?:,|(?=\}))/y;

/** The metrics, matchers and grouping labels of a PromQL expression; throws naming what it cannot read. */
export function readPromql(expr: string): ReadQuery {
  const selectors: Selector[] = [];
  const grouping: string[] = [];
  let i = 0;
  let depth = 0;
  const fail = (what: string): never => {
    throw new Error(`cannot read PromQL at ${i} (${what}): ${expr.slice(0, i)} ⟨here⟩ ${expr.slice(i)}`);
  };
  const skipSpace = (): void => {
    while (i < expr.length && /\s/.test(expr[i])) i++;
  };
  /** The text up to the bracket closing the one at i (no nesting of the same kind, no strings). */
  const enclosed = (close: string): string => {
    const end = expr.indexOf(close, i + 1);
    if (end < 0) fail(`no closing ${close}`);
    const inner = expr.slice(i + 1, end);
    i = end + 1;
    return inner;
  };
  while (i < expr.length) {
    const c = expr[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'") {
      const m = new RegExp(`${c}(?:[^${c}\\\\]|\\\\.)*${c}`, 'y');
      m.lastIndex = i;
      if (!m.exec(expr)) fail('unterminated string');
      i = m.lastIndex;
    } else if (c === '[') {
      enclosed(']'); // a range or subquery: durations and Grafana's $__rate_interval
    } else if (/[0-9.]/.test(c)) {
      const m = /[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?/y;
      m.lastIndex = i;
      if (!m.exec(expr)) fail('number');
      i = m.lastIndex;
    } else if (/[a-zA-Z_:]/.test(c)) {
      NAME.lastIndex = i;
      const word = NAME.exec(expr)![0];
      i = NAME.lastIndex;
      skipSpace();
      if (GROUPING.has(word)) {
        if (expr[i] === '(') grouping.push(...enclosed(')').split(',').map((l) => l.trim()).filter((l) => l !== ''));
        else if (word !== 'group_left' && word !== 'group_right') fail(`${word} without labels`);
      } else if (expr[i] === '(' || AGGREGATORS.has(word) || BINARY_WORDS.has(word)) {
        // a function or aggregation (its arguments follow), or a binary operator
      } else if (word === 'offset') {
        fail('offset is not read');
      } else {
        const labels: string[] = [];
        if (expr[i] === '{') {
          i++;
          for (;;) {
            skipSpace();
            if (expr[i] === '}') break;
            MATCHER.lastIndex = i;
            const m = MATCHER.exec(expr);
            if (!m) fail(`label matchers of ${word}`);
            labels.push(m![1]);
            i = MATCHER.lastIndex;
          }
          i++;
        }
        selectors.push({ metric: word, labels });
      }
    } else if (c === '{') {
      fail('a selector without a metric name');
    } else if (c === '(' || c === ')') {
      depth += c === '(' ? 1 : -1;
      if (depth < 0) fail('unbalanced )');
      i++;
    } else if ('+-*/%^=!<>,'.includes(c)) {
      i++;
    } else {
      fail(`unexpected ${c}`);
    }
  }
  if (depth !== 0) fail('unbalanced (');
  return { selectors, grouping: [...new Set(grouping)] };
}

/** The labels a legend format names (`{{destination_service}}`). */
export function legendLabels(legendFormat: string | undefined): string[] {
  return [...(legendFormat ?? '').matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)].map((m) => m[1]);
}
