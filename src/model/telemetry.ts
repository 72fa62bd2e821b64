// Which access logs a workload writes, as Istio's Telemetry API decides (pilot's telemetry.go):
// at most three Telemetries apply to a proxy — the oldest namespace-wide one of the root
// namespace (mesh-wide), the oldest namespace-wide one of the proxy's namespace, and the oldest of
// that namespace whose selector (or targetRef to its Gateway API Gateway) picks the workload — in
// that order, the later overriding the earlier: a level that names providers replaces the
// providers in scope; an entry without providers acts on its parent's; `disabled` turns a
// provider off; `match.mode` limits an entry to the CLIENT side (outbound listeners, and gateways)
// or the SERVER side (inbound). The mesh configuration's defaultProviders.accessLogging log where
// no Telemetry names a provider. Pure.
import type { Labels } from '../api/common.js';
import type { ExtensionProvider, MeshConfig } from '../api/mesh-config.js';
import type { AccessLogging, TelemetrySpec, WorkloadMode } from '../api/telemetry.js';
import { BUILTIN_ENVOY_PROVIDER, DEV_STDOUT, fileAccessLog, type FileAccessLog } from './access-log-format.js';
import type { Config } from './config-store.js';
import { byNamespaceOldestFirst } from './config-order.js';
import { labelsMatch } from './labels.js';
import { targetsOf, targetsWorkload } from './security-policies.js';

/** The side of the traffic a listener serves: CLIENT (outbound, gateways) or SERVER (inbound). */
export type ListenerSide = Exclude<WorkloadMode, 'CLIENT_AND_SERVER'>;

/** One access log a listener writes: a provider's file log, and the CEL filter of the entry that enabled it. */
export interface ResolvedAccessLog extends FileAccessLog {
  provider: string;
  filter?: string;
}

/** The Telemetries that apply to a workload, outermost first, and a key naming them. */
export interface AppliedTelemetries {
  key: string;
  levels: readonly (readonly AccessLogging[])[];
}

/** Without selector labels or targets: the whole namespace (the whole mesh in the root namespace). */
export const namespaceWide = (spec: TelemetrySpec): boolean => Object.keys(spec.selector?.matchLabels ?? {}).length === 0 && targetsOf(spec).length === 0;

export class Telemetries {
  private readonly byNamespace: Map<string, Config<TelemetrySpec>[]>;

  constructor(
    configs: readonly Config<TelemetrySpec>[],
    readonly rootNamespace: string,
  ) {
    this.byNamespace = byNamespaceOldestFirst(configs);
  }

  /** The Telemetries of a workload in `namespace` with `labels`, as Istio's applicableTelemetries picks them. */
  forWorkload(namespace: string, labels: Labels): AppliedTelemetries {
    const picked: Config<TelemetrySpec>[] = [];
    const root = this.namespaceWideOf(this.rootNamespace);
    if (root) picked.push(root);
    const ns = namespace !== this.rootNamespace ? this.namespaceWideOf(namespace) : undefined;
    if (ns) picked.push(ns);
    const own = this.byNamespace.get(namespace) ?? [];
    const workload = own.find((c) => {
      if (namespaceWide(c.spec)) return false;
      const targets = targetsOf(c.spec);
      return targets.length > 0 ? targets.some((t) => targetsWorkload(t, c.namespace, namespace, labels)) : labelsMatch(c.spec.selector?.matchLabels ?? {}, labels);
    });
    if (workload) picked.push(workload);
    const withLogs = picked.filter((c) => (c.spec.accessLogging ?? []).length > 0);
    return { key: JSON.stringify(withLogs.map((c) => `${c.namespace}/${c.name}`)), levels: withLogs.map((c) => c.spec.accessLogging ?? []) };
  }

  /** The namespace-wide Telemetry Istio applies in `namespace`: the oldest. */
  namespaceWideOf(namespace: string): Config<TelemetrySpec> | undefined {
    return this.byNamespace.get(namespace)?.find((c) => namespaceWide(c.spec));
  }

  /** Every label key a selector reads: proxies that agree on these get the same Telemetries. */
  labelKeys(): string[] {
    return [...this.byNamespace.values()].flat().flatMap((c) => Object.keys(c.spec.selector?.matchLabels ?? {}));
  }
}

const names = (entry: AccessLogging): string[] => (entry.providers ?? []).map((p) => p.name ?? '');

/** Istio's mergeLogs: the providers that log on `side`, each with the filter of the last entry naming it. */
export function mergeAccessLogs(levels: AppliedTelemetries['levels'], defaults: readonly string[], side: ListenerSide): Map<string, string | undefined> {
  const providers = new Map<string, string | undefined>();
  if (levels.length === 0) {
    for (const d of defaults) providers.set(d, undefined);
    return providers;
  }
  let inScope: readonly string[] = defaults;
  const filters = new Map<string, string | undefined>();
  for (const level of levels) {
    const named = new Set(level.flatMap(names));
    for (const entry of level) for (const n of names(entry)) filters.set(n, entry.filter?.expression);
    if (named.size > 0) inScope = [...named];
  }
  const scope = new Set(inScope);
  let parent: readonly string[] = defaults;
  for (const level of levels) {
    for (const entry of level) {
      const own = names(entry);
      const acting = own.length > 0 ? own : parent;
      parent = acting;
      const mode = entry.match?.mode ?? 'CLIENT_AND_SERVER';
      if (mode !== 'CLIENT_AND_SERVER' && mode !== side) continue;
      for (const p of acting) {
        if (!scope.has(p)) continue;
        if (entry.disabled) providers.delete(p);
        else providers.set(p, filters.get(p));
      }
    }
  }
  return providers;
}

/** The file access log providers by name (Istio matches names case-insensitively), the built-in `envoy` unless redefined. */
export function fileLogProviders(mesh: Pick<MeshConfig, 'extensionProviders' | 'accessLogEncoding' | 'accessLogFormat'>): Map<string, FileAccessLog | { problem: string }> {
  const out = new Map<string, FileAccessLog | { problem: string }>();
  const all: ExtensionProvider[] = [{ name: BUILTIN_ENVOY_PROVIDER, envoyFileAccessLog: { path: DEV_STDOUT } }, ...(mesh.extensionProviders ?? [])];
  for (const p of all) {
    out.set(p.name.toLowerCase(), p.envoyFileAccessLog ? fileAccessLog(p.name, p.envoyFileAccessLog, mesh) : { problem: 'is not an envoyFileAccessLog provider (the only kind of access log Trellis writes)' });
  }
  return out;
}

/** The access logs of one side of a workload's listeners, sorted by provider name (Istio's order is a map's). */
export function accessLogsOf(applied: AppliedTelemetries, side: ListenerSide, providers: ReadonlyMap<string, FileAccessLog | { problem: string }>, defaults: readonly string[]): ResolvedAccessLog[] {
  const out: ResolvedAccessLog[] = [];
  for (const [name, filter] of [...mergeAccessLogs(applied.levels, defaults, side)].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const p = providers.get(name.toLowerCase());
    if (!p || 'problem' in p) continue;
    out.push({ provider: name, ...p, ...(filter !== undefined ? { filter } : {}) });
  }
  return out;
}
