// The service graph while someone watches the mesh page: every few seconds the connected
// proxies' statistics are read (stats-scraper.ts, at the pod IPs the Kubernetes API gives) and
// the graph is the traffic between the last two reads (traffic-graph.ts). Nobody watching,
// nothing is read, and the previous read is dropped (a window across a pause would mislead).
import type { Endpoint, PodRecord, ServiceRecord } from '../model/services.js';
import { workloadName } from '../sidecar/stats-config.js';
import type { Logger } from '../util/logger.js';
import { EMPTY_GRAPH } from './mesh-state.js';
import type { GraphView } from './mesh-view.js';
import { scrapeStats, type ScrapeOptions, type ScrapeTarget } from './stats-scraper.js';
import { readScrape, trafficGraph, type ScrapeRound, type ServicesOf } from './traffic-graph.js';

/** Envoy publishes histograms at its stats flush (5 s): reading more often shows nothing new. */
export const SCRAPE_INTERVAL_MS = 5000;
/**
 * A read of many proxies costs the control plane real CPU (parsing their statistics: about 10 ms
 * per proxy with 50 destinations, BENCHMARKS.md "mesh-page"): the next read waits this many
 * times as long as the last one took, so an open page costs at most a tenth of a core.
 */
const COST_FACTOR = 10;

/**
 * Which Services send to a workload's container port: those of its namespace whose selector
 * its pods match and that target that port, a numeric targetPort as it is, a named one as the
 * Service's EndpointSlices resolved it. Pure.
 */
export function servicesOfWorkloads(services: readonly ServiceRecord[], pods: readonly PodRecord[], endpoints: (namespace: string, name: string) => readonly Endpoint[]): ServicesOf {
  const podsOf = new Map<string, PodRecord[]>();
  for (const p of pods) {
    const key = `${p.namespace}/${workloadName(p.name, p.labels)}`;
    let list = podsOf.get(key);
    if (!list) podsOf.set(key, (list = []));
    list.push(p);
  }
  const selects = (s: ServiceRecord, p: PodRecord): boolean => !!s.selector && Object.keys(s.selector).length > 0 && Object.entries(s.selector).every(([k, v]) => p.labels[k] === v);
  const targetPorts = (s: ServiceRecord): Set<number> => {
    const out = new Set(s.ports.map((sp) => sp.targetPort).filter((t): t is number => typeof t === 'number'));
    for (const e of endpoints(s.namespace, s.name)) for (const n of Object.values(e.ports)) out.add(n);
    return out;
  };
  return (namespace, workload, port) => {
    const members = podsOf.get(`${namespace}/${workload}`) ?? [];
    return services
      .filter((s) => s.namespace === namespace && members.some((p) => selects(s, p)) && targetPorts(s).has(port))
      .map((s) => s.hostname)
      .sort();
  };
}

/**
 * Where to read each proxy: its pod's IP as the API server gives it, found by the namespace and
 * pod name the proxy was admitted with; never an address from its node metadata (a proxy
 * chooses that freely, and would aim the control plane's requests anywhere). A proxy whose pod
 * is unknown, or has no IP yet, is not read. Pure.
 */
export function scrapeTargets(proxies: ReadonlyArray<{ id: string; namespace: string | undefined; podName: string | undefined }>, podByName: (namespace: string, name: string) => PodRecord | undefined): ScrapeTarget[] {
  return proxies.flatMap((p) => {
    const pod = p.namespace && p.podName ? podByName(p.namespace, p.podName) : undefined;
    return pod?.ip ? [{ proxyId: p.id, ip: pod.ip }] : [];
  });
}

export interface TrafficWatchOptions {
  /** The proxies to read, at their pods' IPs. */
  targets: () => ScrapeTarget[];
  /** Which Services send to a workload's port, as the model knows now. */
  servicesOf: () => ServicesOf;
  intervalMs?: number;
  scrape?: ScrapeOptions;
  log: Logger;
}

export class TrafficWatch {
  private previous: ScrapeRound | undefined;
  private latest: GraphView = EMPTY_GRAPH;
  private timer: NodeJS.Timeout | undefined;
  private watching = false;
  private reading = false;

  constructor(private readonly opts: TrafficWatchOptions) {}

  /** The graph from the last two reads (empty before the first). */
  graph(): GraphView {
    return this.latest;
  }

  /** Someone started or stopped watching. */
  watched(on: boolean): void {
    if (on && !this.watching) {
      this.watching = true;
      void this.read();
    } else if (!on && this.watching) {
      this.watching = false;
      clearTimeout(this.timer);
      this.timer = undefined;
      this.previous = undefined;
      this.latest = EMPTY_GRAPH;
    }
  }

  stop(): void {
    this.watched(false);
  }

  /** One read, then the next one scheduled (see COST_FACTOR) while someone watches. */
  private async read(): Promise<void> {
    if (this.reading) return; // a slow round is not stacked on
    this.reading = true;
    let cpuMs = 0;
    try {
      const at = Date.now();
      const results = await scrapeStats(this.opts.targets(), { log: this.opts.log, ...this.opts.scrape });
      if (!this.watching) return; // nobody watches any more
      const cpu = process.cpuUsage();
      const current: ScrapeRound = { at, proxies: new Map(results.map((r) => [r.proxyId, readScrape(r)])) };
      this.latest = trafficGraph(this.previous, current, this.opts.servicesOf());
      this.previous = current;
      const used = process.cpuUsage(cpu);
      cpuMs = (used.user + used.system) / 1000;
    } catch (err) {
      this.opts.log.warn('cannot read the proxies statistics for the mesh page', { error: err instanceof Error ? err.message : String(err) });
    } finally {
      this.reading = false;
    }
    if (this.watching) this.timer = setTimeout(() => void this.read(), Math.max(this.opts.intervalMs ?? SCRAPE_INTERVAL_MS, cpuMs * COST_FACTOR));
  }
}
