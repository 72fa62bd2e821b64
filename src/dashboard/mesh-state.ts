// The MeshView the page shows, put together from what the stages hold: the connected proxies,
// the config objects as the controllers see them (with their status), each object's rollout,
// and the service graph. Pure.
import type { Rollout } from '../push/rollout.js';
import { workloadName } from '../sidecar/stats-config.js';
import type { ConfigView, GraphView, MeshView, ProxySync, ProxyView } from './mesh-view.js';

export interface ProxyFacts {
  id: string;
  kind: string;
  namespace: string | undefined;
  podName: string | undefined;
  labels: Readonly<Record<string, string>>;
  connectedAt: Date;
  sync: ProxySync;
  /** The newest NACK's text. */
  lastNack: string | undefined;
}

/** A config object as its controller sees it (rollout apart). */
export type ConfigFacts = Omit<ConfigView, 'reached' | 'upToDate' | 'rejected'>;

export function meshView(inputs: { proxies: readonly ProxyFacts[]; configs: readonly ConfigFacts[]; rollouts: ReadonlyMap<string, Rollout>; graph: GraphView; now: Date }): MeshView {
  const proxies: ProxyView[] = inputs.proxies.map((p) => ({
    id: p.id,
    kind: p.kind,
    namespace: p.namespace ?? '',
    pod: p.podName ?? '',
    workload: p.podName ? workloadName(p.podName, { ...p.labels }) : '',
    connectedAt: p.connectedAt.toISOString(),
    sync: p.sync,
    ...(p.sync === 'NACK' && p.lastNack !== undefined ? { nack: p.lastNack } : {}),
  }));
  const configs: ConfigView[] = inputs.configs.map((c) => {
    const r = c.accepted ? inputs.rollouts.get(`${c.kind}/${c.namespace}/${c.name}`) : undefined;
    return { ...c, reached: r?.reached ?? 0, upToDate: r?.upToDate ?? 0, rejected: r ? r.rejected.map((x) => ({ ...x })) : [] };
  });
  return { generatedAt: inputs.now.toISOString(), proxies, configs, graph: inputs.graph };
}

/** No graph yet (nobody watched long enough for two reads of the proxies' statistics). */
export const EMPTY_GRAPH: GraphView = { nodes: [], edges: [], windowSeconds: 0, scraped: 0, failed: [] };
