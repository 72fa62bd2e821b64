// Keeps each config object's Reconciled condition ("2/3 proxies up to date.") following its
// rollout. ACKs, NACKs, proxies coming and going and config changes only mark the rollouts
// dirty; once a second, if dirty, rollouts are computed again and the controllers write the
// statuses whose rollout moved (each object at most once a second). An ACK only moves a proxy
// forward, so after ACKs alone only the objects not yet everywhere are looked at again (with
// endpoint churn ACKs never stop, and most objects are long complete); a NACK, a proxy coming
// or going, or a config change can move any object, and all are computed again.
import { Gauge, Histogram } from 'prom-client';
import type { Mesh } from '../model/mesh.js';
import { RolloutTracker, type Rollout, type RolloutProxy } from '../push/rollout.js';
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
  /** The last rollout computed per object, and its signature (what a status would show). */
  private readonly latest = new Map<string, { rollout: Rollout; signature: string }>();

  constructor(
    private readonly deps: {
      rootNamespace: string;
      proxies: () => readonly RolloutProxy[];
      mesh: () => Mesh;
      onMoved: RolloutListener;
      intervalMs?: number;
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

  /** The rollout of one object, computed now (for a status written at once). */
  rolloutOf(kind: string, namespace: string, name: string): Rollout | undefined {
    return this.tracker.rollout(kind, namespace, name, this.deps.proxies(), this.deps.mesh());
  }

  /** The rollouts as of the last pass, by "kind/namespace/name" (for the mesh page). */
  snapshot(): ReadonlyMap<string, Rollout> {
    return new Map([...this.latest].map(([k, v]) => [k, v.rollout]));
  }

  /** Computes every rollout again if dirty, and tells which moved. */
  pass(): void {
    if (!this.dirty) return;
    const all = this.structural;
    this.dirty = false;
    this.structural = false;
    const end = rolloutPass.startTimer();
    const proxies = this.deps.proxies();
    const mesh = this.deps.mesh();
    const moved = new Map<string, Array<{ namespace: string; name: string }>>();
    const keys = new Set(this.tracker.keys());
    let pending = 0;
    for (const key of keys) {
      const known = this.latest.get(key)?.rollout;
      if (!all && known && known.upToDate === known.reached && known.rejected.length === 0) continue;
      const [kind, namespace, name] = key.split('/');
      const rollout = this.tracker.rollout(kind, namespace, name, proxies, mesh);
      if (!rollout) continue;
      if (rollout.upToDate < rollout.reached || rollout.rejected.length > 0) pending++;
      const signature = `${rollout.upToDate}/${rollout.reached} ${rollout.rejected.map((r) => `${r.proxy} ${r.message}`).join('\n')}`;
      if (this.latest.get(key)?.signature === signature) continue;
      this.latest.set(key, { rollout, signature });
      let list = moved.get(kind);
      if (!list) moved.set(kind, (list = []));
      list.push({ namespace, name });
    }
    for (const key of [...this.latest.keys()]) if (!keys.has(key)) this.latest.delete(key);
    pendingObjects.set(pending);
    end();
    for (const [kind, objects] of moved) this.deps.onMoved(kind, objects);
  }
}
