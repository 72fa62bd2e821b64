// Keeps each config object's Reconciled condition ("2/3 proxies up to date.") following its
// rollout. ACKs, NACKs, proxies coming and going and config changes only mark the rollouts
// dirty; once a second, if dirty, rollouts are computed again and the controllers write the
// statuses whose rollout moved. An ACK only moves a proxy forward, so after ACKs alone only the
// objects not yet everywhere are looked at again (with endpoint churn ACKs never stop, and most
// objects are long complete); a NACK, a proxy coming or going, or a config change can move any
// object, and all are computed again.
//
// A pass reports at most `reportsPerPass` moved objects, those reported longest ago first; the
// rest wait for a later pass. While proxies connect, every object's rollout moves every second
// (each new proxy is one more not yet up to date): unbounded, that was a status write per
// object per second (200 a second at 200 VirtualServices, a fifth of the control plane's CPU
// while 1,000 proxies synced, and as much again at the API server). A single change moves one
// object, reported at once; a new generation's first status does not wait for a pass.
import { Gauge, Histogram } from 'prom-client';
import type { Mesh } from '../model/mesh.js';
import { RolloutTracker, RolloutView, type Rollout, type RolloutProxy } from '../push/rollout.js';
import { registry } from '../util/metrics.js';

const pendingObjects = new Gauge({
  name: 'trellis_rollout_pending_objects',
  help: 'Config objects not yet held by every proxy they reach (rejected ones included).',
  registers: [registry],
});
const rolloutPass = new Histogram({
  name: 'trellis_rollout_pass_seconds',
  help: 'Time to compute the rollout of every config object once (after ACKs, NACKs or changes).',
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
  registers: [registry],
});

/** What a reporter tells when rollouts moved: the objects of one kind whose rollout changed. */
export type RolloutListener = (kind: string, objects: Array<{ namespace: string; name: string }>) => void;

export class RolloutReporter {
  readonly tracker: RolloutTracker;
  private dirty = true;
  /** Whether something other than ACKs happened since the last pass (every object is computed again). */
  private structural = true;
  private timer: NodeJS.Timeout | undefined;
  /** The last rollout computed per object (the mesh page shows it). */
  private readonly latest = new Map<string, Rollout>();
  /** The rollout last reported per object (its status shows it), with what a status would show, its epoch and when. */
  private readonly reported = new Map<string, { rollout: Rollout; signature: string; epoch: number; at: number }>();
  /** Objects whose rollout moved since it was last reported. */
  private readonly unreported = new Set<string>();

  constructor(
    private readonly deps: {
      rootNamespace: string;
      proxies: () => readonly RolloutProxy[];
      mesh: () => Mesh;
      onMoved: RolloutListener;
      intervalMs?: number;
      reportsPerPass?: number;
      now?: () => number;
    },
  ) {
    this.tracker = new RolloutTracker(deps.rootNamespace);
  }

  /** Something a rollout depends on happened: an ACK (`progress`), or a NACK, a proxy, a change. */
  markDirty(kind: 'progress' | 'structural' = 'structural'): void {
    this.dirty = true;
    if (kind === 'structural') this.structural = true;
  }

  start(): void {
    this.timer = setInterval(() => this.pass(), this.deps.intervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * The rollout of one object for its status: the last pass's while the object's generation is
   * the one that pass saw (its next pass tells what moved since), else computed now. Each
   * status write comes back as a watch event that asks again, so this is asked far more often
   * than a rollout moves.
   */
  rolloutOf(kind: string, namespace: string, name: string): Rollout | undefined {
    const epoch = this.tracker.epochOf(kind, namespace, name);
    if (epoch === undefined) return undefined;
    const key = `${kind}/${namespace}/${name}`;
    const known = this.reported.get(key);
    if (known?.epoch === epoch) return known.rollout;
    const rollout = this.tracker.rollout(kind, namespace, name, new RolloutView(this.deps.proxies(), this.deps.mesh()));
    if (rollout) this.reported.set(key, { rollout, signature: signatureOf(rollout), epoch, at: this.now() });
    return rollout;
  }

  /** The rollouts as of the last pass, by "kind/namespace/name" (for the mesh page). */
  snapshot(): ReadonlyMap<string, Rollout> {
    return new Map(this.latest);
  }

  /** Computes every rollout again if dirty, and tells which moved (as many as a pass reports). */
  pass(): void {
    if (this.dirty) this.compute();
    if (this.unreported.size > 0) this.report();
  }

  private compute(): void {
    const all = this.structural;
    this.dirty = false;
    this.structural = false;
    const end = rolloutPass.startTimer();
    const view = new RolloutView(this.deps.proxies(), this.deps.mesh());
    const keys = new Set(this.tracker.keys());
    let pending = 0;
    for (const key of keys) {
      const known = this.latest.get(key);
      if (!all && known && complete(known)) continue;
      const [kind, namespace, name] = key.split('/');
      const rollout = this.tracker.rollout(kind, namespace, name, view);
      if (!rollout) continue;
      if (!complete(rollout)) pending++;
      this.latest.set(key, rollout);
      if (this.reported.get(key)?.signature === signatureOf(rollout)) this.unreported.delete(key);
      else this.unreported.add(key);
    }
    for (const key of [...this.latest.keys()]) {
      if (keys.has(key)) continue;
      this.latest.delete(key);
      this.reported.delete(key);
      this.unreported.delete(key);
    }
    pendingObjects.set(pending);
    end();
  }

  /** Tells the listener of the moved objects reported longest ago (never first), as many as a pass may. */
  private report(): void {
    const now = this.now();
    const chosen = [...this.unreported]
      .map((key) => ({ key, at: this.reported.get(key)?.at ?? -Infinity }))
      .sort((a, b) => a.at - b.at)
      .slice(0, this.deps.reportsPerPass ?? REPORTS_PER_PASS);
    const moved = new Map<string, Array<{ namespace: string; name: string }>>();
    for (const { key } of chosen) {
      const rollout = this.latest.get(key);
      const [kind, namespace, name] = key.split('/');
      const epoch = this.tracker.epochOf(kind, namespace, name);
      this.unreported.delete(key);
      if (!rollout || epoch === undefined) continue;
      this.reported.set(key, { rollout, signature: signatureOf(rollout), epoch, at: now });
      let list = moved.get(kind);
      if (!list) moved.set(kind, (list = []));
      list.push({ namespace, name });
    }
    for (const [kind, objects] of moved) this.deps.onMoved(kind, objects);
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }
}

/** Moved objects a pass reports (their statuses are written): the others wait for later passes. */
export const REPORTS_PER_PASS = 25;

const complete = (r: Rollout): boolean => r.upToDate === r.reached && r.rejected.length === 0;

/** What a status shows of a rollout: two rollouts with the same signature need no write. */
const signatureOf = (r: Rollout): string => `${r.upToDate}/${r.reached} ${r.rejected.map((x) => `${x.proxy} ${x.message}`).join('\n')}`;
