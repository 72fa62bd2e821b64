// Envoy's stats configuration run as Envoy runs it, for tests: which stats the stats matcher keeps,
// what the tag extractors make of a stat's name (its tag-extracted name and tags), and the
// Prometheus names that gives (`/stats/prometheus`). The matcher's regexes are RE2 and the
// extractors' std::regex ECMAScript: both agree with JavaScript on the constructs used. The
// real Envoy runs them in test/integration/metrics-envoy.test.ts.

/** One of the bootstrap's `stats_tags`: a name with a regex, or with a fixed value. */
export type StatsTag = Partial<Record<'tag_name' | 'regex' | 'fixed_value', string>>;

interface StatsMatcher {
  inclusion_list: { patterns: { safe_regex: { regex: string } }[] };
}

/** Envoy's tag extraction: every extractor on the full name; the first groups cut, the second the value. */
export function extractTags(statsTags: readonly StatsTag[], name: string): { name: string; tags: Record<string, string> } {
  const cut = new Array<boolean>(name.length).fill(false);
  const tags: Record<string, string> = {};
  for (const t of statsTags) {
    if (t.tag_name === undefined) throw new Error(`a stats tag without a name: ${JSON.stringify(t)}`);
    if (t.fixed_value !== undefined) {
      tags[t.tag_name] = t.fixed_value;
      continue;
    }
    // POSIX classes ([:digit:]) are std::regex's, not JavaScript's: the listener address tag is Envoy's own default.
    if (!t.regex || t.regex.includes('[:')) continue;
    const m = new RegExp(t.regex, 'd').exec(name);
    if (!m?.indices?.[1]) continue;
    tags[t.tag_name] = m[2] ?? m[1];
    for (let i = m.indices[1][0]; i < m.indices[1][1]; i++) cut[i] = true;
  }
  return { name: [...name].filter((_, i) => !cut[i]).join(''), tags };
}

/** Whether the stats matcher (an inclusion list of full-name RE2 patterns) keeps the stat. */
export function keptBy(matcher: Record<string, unknown>, name: string): boolean {
  return (matcher as unknown as StatsMatcher).inclusion_list.patterns.some((p) => new RegExp(`^(?:${p.safe_regex.regex})$`).test(name));
}

/** A Prometheus metric as Envoy's `/stats/prometheus` writes it, with the label names it carries. */
export interface PrometheusMetric {
  name: string;
  labels: string[];
}

/**
 * The Prometheus metrics a stat becomes, or none when the matcher drops it: `envoy_` and the
 * tag-extracted name with every character but [a-zA-Z0-9_] made `_`; a histogram also as
 * `_bucket` (with `le`), `_sum` and `_count`.
 */
export function prometheusMetrics(stats: { stats_tags: readonly StatsTag[]; stats_matcher: Record<string, unknown> }, stat: string, histogram: boolean): PrometheusMetric[] {
  if (!keptBy(stats.stats_matcher, stat)) return [];
  const { name, tags } = extractTags(stats.stats_tags, stat);
  const base = `envoy_${name.replace(/[^a-zA-Z0-9_]/g, '_')}`;
  const labels = Object.keys(tags);
  if (!histogram) return [{ name: base, labels }];
  return [{ name: `${base}_bucket`, labels: [...labels, 'le'] }, { name: `${base}_sum`, labels }, { name: `${base}_count`, labels }];
}
