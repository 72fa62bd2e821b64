// DestinationRules by host, with Istio's lookup precedence and merge.
//
// Lookup for a client in namespace C and a service host H in namespace S:
//   1. the DestinationRules of C itself (any exportTo that includes C), most specific host first;
//      for a client in the root namespace, the root namespace's private ones;
//   2. the rules S exports (exportTo `*` or naming C);
//   3. the rules the root namespace exports.
// Within one namespace, the most specific host wins (exact, then the longest wildcard), and
// the first step that has a matching host decides, even if that rule is not exported to C.
//
// Merge: DestinationRules of one namespace for the same host become one, oldest first: subsets
// are concatenated (a repeated subset name keeps the first definition), the first top-level
// trafficPolicy wins, exportTo comes from the first rule that sets one. Rules with a
// workloadSelector merge only with rules that have the same selector, are never exported, and
// apply only to matching workloads of their own namespace.
import type { DestinationRuleSpec } from '../api/destination-rule.js';
import type { Labels } from '../api/common.js';
import type { Config } from './config-store.js';
import { compareByAge, refOf, type ConfigRef } from './config-order.js';
import { DEFAULT_DOMAIN, isWildcard, mostSpecificHostMatch, resolveHost } from './hosts.js';
import { labelsMatch, sameLabels } from './labels.js';
import { PRIVATE, PUBLIC } from './visibility.js';

export type DestinationRuleConfig = Config<DestinationRuleSpec>;

export interface ConsolidatedDestinationRule {
  /** Resolved host. */
  host: string;
  namespace: string;
  /** The merged spec (its host resolved). */
  spec: DestinationRuleSpec;
  /** The DestinationRules merged into this one, oldest first. */
  from: ConfigRef[];
  /** The exportTo the lookup honours (empty: the mesh default). */
  exportTo: readonly string[];
  workloadSelector: Labels | undefined;
}

/** Something of a DestinationRule that a merge dropped in favour of an older rule. */
export interface MergeLoss {
  config: ConfigRef;
  /** `subset`: spec.subsets[index] repeats a name; `trafficPolicy`: the top-level policy was ignored. */
  what: 'subset' | 'trafficPolicy';
  index: number | undefined;
  subset: string | undefined;
  keptFrom: ConfigRef;
}

const selectorOf = (spec: DestinationRuleSpec): Labels | undefined => spec.workloadSelector?.matchLabels ?? (spec.workloadSelector ? {} : undefined);

/** The rules of one namespace (one pool of it), by host. */
class HostPool {
  readonly rules = new Map<string, ConsolidatedDestinationRule[]>();
  private readonly wildcards: string[] = [];

  constructor(private readonly losses: Map<string, MergeLoss>) {}

  add(config: DestinationRuleConfig, host: string, exportTo: readonly string[]): void {
    const spec = config.spec;
    const selector = selectorOf(spec);
    const list = this.rules.get(host);
    if (!list) {
      this.rules.set(host, [this.fresh(config, host, exportTo)]);
      if (isWildcard(host)) this.wildcards.push(host);
      return;
    }
    let addAsNew = true;
    for (const entry of list) {
      const both = selector !== undefined && entry.workloadSelector !== undefined;
      if (both && !sameLabels(selector, entry.workloadSelector)) continue;
      const sameGroup = (selector === undefined && entry.workloadSelector === undefined) || both;
      if (sameGroup) addAsNew = false;
      const names = new Set((entry.spec.subsets ?? []).map((s) => s.name));
      const subsets = [...(entry.spec.subsets ?? [])];
      (spec.subsets ?? []).forEach((s, index) => {
        if (!names.has(s.name)) {
          subsets.push(s);
          names.add(s.name);
        } else if (sameGroup) {
          this.lose({ config: refOf(config), what: 'subset', index, subset: s.name, keptFrom: entry.from[0] });
        }
      });
      let trafficPolicy = entry.spec.trafficPolicy;
      if (trafficPolicy === undefined) trafficPolicy = spec.trafficPolicy;
      else if (spec.trafficPolicy !== undefined && sameGroup) this.lose({ config: refOf(config), what: 'trafficPolicy', index: undefined, subset: undefined, keptFrom: entry.from[0] });
      entry.spec = { ...entry.spec, subsets, ...(trafficPolicy !== undefined ? { trafficPolicy } : {}) };
      entry.from = [...entry.from, refOf(config)];
      if (entry.exportTo.length === 0 && exportTo.length > 0) entry.exportTo = exportTo;
    }
    if (addAsNew) list.push(this.fresh(config, host, exportTo));
  }

  /** The rules for the most specific host of this pool that covers `host`, if any. */
  match(host: string): ConsolidatedDestinationRule[] | undefined {
    const exact = this.rules.get(host);
    if (exact) return exact;
    const key = mostSpecificHostMatch(host, this.wildcards);
    return key === undefined ? undefined : this.rules.get(key);
  }

  private fresh(config: DestinationRuleConfig, host: string, exportTo: readonly string[]): ConsolidatedDestinationRule {
    return { host, namespace: config.namespace, spec: { ...config.spec, host }, from: [refOf(config)], exportTo, workloadSelector: selectorOf(config.spec) };
  }

  private lose(l: MergeLoss): void {
    this.losses.set(`${l.config.namespace}/${l.config.name}/${l.what}/${l.index ?? ''}`, l);
  }
}

export interface DestinationRuleIndexOptions {
  rootNamespace: string;
  domain?: string;
  /** The mesh-wide default exportTo for DestinationRules. */
  defaultExportTo: readonly string[];
}

export class DestinationRuleIndex {
  private readonly local = new Map<string, HostPool>();
  private readonly exported = new Map<string, HostPool>();
  private readonly rootLocal: HostPool;
  private readonly lossesByKey = new Map<string, MergeLoss>();

  constructor(
    configs: readonly DestinationRuleConfig[],
    private readonly opts: DestinationRuleIndexOptions,
  ) {
    this.rootLocal = new HostPool(this.lossesByKey);
    const sorted = [...configs].sort((a, b) => Number(selectorOf(b.spec) !== undefined) - Number(selectorOf(a.spec) !== undefined) || compareByAge(a, b));
    for (const c of sorted) this.add(c);
  }

  /** What merges dropped, for warnings. */
  get losses(): MergeLoss[] {
    return [...this.lossesByKey.values()];
  }

  /** The consolidated rules (one per workload selector) that apply to `host` for a client in `client`. */
  lookup(host: string, client: string, serviceNamespace?: string): ConsolidatedDestinationRule[] {
    const root = this.opts.rootNamespace;
    const first = client !== root ? this.local.get(client)?.match(host) : this.rootLocal.match(host);
    if (first) return first;
    if (serviceNamespace) {
      const out = this.exportedFrom(serviceNamespace, host, client);
      if (out.length > 0) return out;
    }
    return this.exportedFrom(root, host, client);
  }

  /** The one rule a proxy with these labels uses: a matching workload-selector rule of its namespace, else the general one. */
  forProxy(host: string, client: string, labels: Labels = {}, serviceNamespace?: string): ConsolidatedDestinationRule | undefined {
    let general: ConsolidatedDestinationRule | undefined;
    for (const dr of this.lookup(host, client, serviceNamespace)) {
      if (dr.workloadSelector === undefined) general = dr;
      else if (dr.namespace === client && labelsMatch(dr.workloadSelector, labels)) return dr;
    }
    return general;
  }

  private add(c: DestinationRuleConfig): void {
    const host = resolveHost(c.spec.host ?? '', c.namespace, this.opts.domain ?? DEFAULT_DOMAIN);
    if (!host) return;
    const ns = c.namespace;
    const exportTo: readonly string[] = selectorOf(c.spec) !== undefined ? [PRIVATE] : (c.spec.exportTo ?? []);
    if (exportTo.length === 0 || exportTo.includes(PUBLIC) || exportTo.includes(PRIVATE) || exportTo.includes(ns)) this.pool(this.local, ns).add(c, host, exportTo);
    const privateOnly =
      (exportTo.length === 0 && this.opts.defaultExportTo.includes(PRIVATE)) || (new Set(exportTo).size === 1 && (exportTo[0] === PRIVATE || exportTo[0] === ns));
    if (!privateOnly) this.pool(this.exported, ns).add(c, host, exportTo);
    else if (ns === this.opts.rootNamespace) this.rootLocal.add(c, host, exportTo);
  }

  private pool(map: Map<string, HostPool>, ns: string): HostPool {
    let p = map.get(ns);
    if (!p) map.set(ns, (p = new HostPool(this.lossesByKey)));
    return p;
  }

  private exportedFrom(owner: string, host: string, client: string): ConsolidatedDestinationRule[] {
    const rules = this.exported.get(owner)?.match(host) ?? [];
    return rules.filter((r) => r.exportTo.length === 0 || r.exportTo.includes(PUBLIC) || r.exportTo.includes(client));
  }
}
