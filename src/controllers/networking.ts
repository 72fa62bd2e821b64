// One reconciler per Istio config kind (networking.istio.io, and security.istio.io
// PeerAuthentication): validate every object (the webhook can be bypassed or down), put accepted
// ones in the model, keep the last accepted version when an update is invalid, and write status
// conditions by merge patch only when they change.
import type { KubernetesObject } from '@kubernetes/client-node';
import { Counter } from 'prom-client';
import { GROUP_OF, type ConfigKind } from '../api/common.js';
import { formatErrors } from '../api/validate-errors.js';
import { validate } from '../api/validate.js';
import type { KubeAccess } from '../kube/access.js';
import { Informer } from '../kube/informer.js';
import { ApiError, type Rest } from '../kube/rest.js';
import type { AnyConfig, ChangeSet, ConfigOf, ConfigStore } from '../model/config-store.js';
import type { Logger } from '../util/logger.js';
import { registry } from '../util/metrics.js';
import { rolloutMessage, type Rollout } from '../push/rollout.js';
import { StatusLane } from './status-lane.js';
import { nextStatus, sameStatus, type ConfigStatus, type DesiredCondition } from './status.js';

/** The least time between two status writes of one object: rollouts change with every ACK. */
export const STATUS_WRITE_INTERVAL_MS = 1000;
/** Status writes of one kind in flight at once: beyond that they wait, and fold into fewer. */
export const MAX_STATUS_WRITES = 8;
/**
 * While configuration changes are merged and pushed, status writes wait, each at most this long:
 * during a burst of 50 VirtualService writes the statuses (the first of each new generation,
 * then the rollout's progress: about three writes per object) were two thirds of the writes the
 * API server took, and slowed the burst's own (BENCHMARKS.md, vs-istiod).
 */
const STATUS_HOLD_MAX_MS = 2000;
/**
 * And for this long after the push: its responses are written when it ends, and the proxies are
 * still taking them and sending their ACKs; statuses written then slowed that down.
 */
const STATUS_HOLD_SETTLE_MS = 500;
const STATUS_HOLD_RECHECK_MS = 50;

export const PLURALS: Record<ConfigKind, string> = {
  VirtualService: 'virtualservices',
  DestinationRule: 'destinationrules',
  Gateway: 'gateways',
  ServiceEntry: 'serviceentries',
  Sidecar: 'sidecars',
  PeerAuthentication: 'peerauthentications',
  AuthorizationPolicy: 'authorizationpolicies',
  RequestAuthentication: 'requestauthentications',
  Telemetry: 'telemetries',
};

/** Where the objects of a kind live in the API (the v1 storage version, served by every kind). */
export function apiPath(kind: ConfigKind): string {
  return `/apis/${GROUP_OF[kind]}/v1`;
}

export interface NetworkingObject extends KubernetesObject {
  spec?: unknown;
  status?: Partial<ConfigStatus>;
}

/**
 * An object of `kind` as the model holds it, or Istio's errors (rendered for users) when it is
 * invalid. The one way in for config: the controllers, and the golden translation cases.
 */
export function configFromObject<K extends ConfigKind>(kind: K, obj: NetworkingObject): { config: ConfigOf<K> } | { errors: string[] } {
  const md = obj.metadata ?? {};
  const namespace = md.namespace ?? '';
  const name = md.name ?? '';
  const v = validate(kind, namespace, name, obj.spec, md.annotations);
  if (!v.ok) return { errors: formatErrors(kind, namespace, name, v.errors) };
  // validate() accepted the spec for this kind: the config is of that kind.
  const config = {
    kind,
    namespace,
    name,
    generation: md.generation ?? 0,
    resourceVersion: md.resourceVersion ?? '',
    creationTimestamp: md.creationTimestamp ? new Date(md.creationTimestamp).toISOString() : '',
    labels: md.labels ?? {},
    annotations: md.annotations ?? {},
    spec: v.spec,
  } as ConfigOf<K>;
  return { config };
}

const statusWrites = new Counter({
  name: 'trellis_status_writes_total',
  help: 'Status patches written, by kind.',
  labelNames: ['kind'] as const,
  registers: [registry],
});
const rejected = new Counter({
  name: 'trellis_config_rejected_total',
  help: 'Objects the controllers found invalid, by kind.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export class NetworkingController {
  readonly informer: Informer<NetworkingObject>;
  /** Per object ("namespace/name"): the status to write when its turn comes, and the last one sent. */
  private readonly wanted = new Map<string, { namespace: string; name: string; uid: string; status: ConfigStatus }>();
  private readonly sent = new Map<string, { uid: string; status: ConfigStatus }>();
  private readonly lane: StatusLane;

  constructor(
    readonly kind: ConfigKind,
    private readonly deps: {
      kc: KubeAccess;
      rest: Rest;
      store: ConfigStore;
      log: Logger;
      onChange: (c: ChangeSet) => void;
      stallMs?: number;
      /** Warnings about an accepted config, which depend on the rest of the mesh. */
      warnings?: (config: AnyConfig) => string[];
      /** How far an accepted config has reached the proxies (Reconciled); without it, not told. */
      rollout?: (config: AnyConfig) => Rollout | undefined;
      writeIntervalMs?: number;
      /** Status writes in flight at once (default 8). */
      maxStatusWrites?: number;
      /** How long configuration has been neither merged nor pushed (0 while it is): status writes wait meanwhile. */
      configIdleForMs?: () => number;
    },
  ) {
    const idleFor = deps.configIdleForMs;
    const hold = idleFor && { busy: () => idleFor() < STATUS_HOLD_SETTLE_MS, maxMs: STATUS_HOLD_MAX_MS, recheckMs: STATUS_HOLD_RECHECK_MS };
    this.lane = new StatusLane({ intervalMs: deps.writeIntervalMs ?? STATUS_WRITE_INTERVAL_MS, maxInFlight: deps.maxStatusWrites ?? MAX_STATUS_WRITES, start: (key) => this.startWrite(key), hold });
    this.informer = new Informer<NetworkingObject>({ kc: deps.kc, path: `${apiPath(kind)}/${PLURALS[kind]}`, log: deps.log, stallMs: deps.stallMs, absentIsEmpty: true });
    this.informer.on((event, obj) => {
      if (event === 'delete') this.remove(obj);
      else this.reconcile(obj);
    });
  }

  start(): Promise<void> {
    return this.informer.start();
  }

  stop(): void {
    this.informer.stop();
    this.lane.stop();
  }

  /**
   * Every object of the kind as the API holds it: accepted (its version is the one in the
   * model) or not, with what its status says (errors, or an accepted object's warnings).
   */
  views(): Array<{ kind: string; namespace: string; name: string; generation: number; accepted: boolean; message: string }> {
    return this.informer.list().map((obj) => {
      const md = obj.metadata ?? {};
      const stored = this.deps.store.get(this.kind, md.namespace ?? '', md.name ?? '');
      const accepted = !!stored && stored.resourceVersion === (md.resourceVersion ?? '');
      const conditions = obj.status?.conditions ?? [];
      const said = accepted ? conditions.find((c) => c.type === 'Warnings' && c.status === 'True') : conditions.find((c) => c.type === 'Accepted' && c.status === 'False');
      return { kind: this.kind, namespace: md.namespace ?? '', name: md.name ?? '', generation: md.generation ?? 0, accepted, message: said?.message ?? '' };
    });
  }

  /** The rollout of these accepted objects moved: their Reconciled condition follows. */
  rolloutChanged(objects: Iterable<{ namespace: string; name: string }>): void {
    for (const { namespace, name } of objects) {
      const obj = this.informer.get(name, namespace);
      const stored = this.deps.store.get(this.kind, namespace, name);
      if (obj && stored && stored.resourceVersion === (obj.metadata?.resourceVersion ?? '')) this.writeStatusIfChanged(obj, this.acceptedConditions(stored));
    }
  }

  /**
   * Re-evaluates the statuses that depend on other objects; writes only changes. Only the
   * warnings of an accepted object do: an object whose stored version is the one the informer
   * holds was accepted as it is, so it is neither validated nor stored again; a rejected one's
   * status depends on itself alone.
   */
  recheck(): void {
    for (const obj of this.informer.list()) {
      const md = obj.metadata ?? {};
      const stored = this.deps.store.get(this.kind, md.namespace ?? '', md.name ?? '');
      if (stored && stored.resourceVersion === (md.resourceVersion ?? '')) this.writeStatusIfChanged(obj, this.acceptedConditions(stored));
    }
  }

  private remove(obj: NetworkingObject): void {
    const key = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
    this.lane.forget(key);
    this.wanted.delete(key);
    this.sent.delete(key);
    const change = this.deps.store.delete(this.kind, obj.metadata?.namespace ?? '', obj.metadata?.name ?? '');
    if (change) this.deps.onChange(change);
  }

  private reconcile(obj: NetworkingObject): void {
    const md = obj.metadata ?? {};
    const namespace = md.namespace ?? '';
    const name = md.name ?? '';
    const accepted = configFromObject(this.kind, obj);
    let desired: DesiredCondition[];
    if ('config' in accepted) {
      const change = this.deps.store.upsert(accepted.config);
      if (change) this.deps.onChange(change);
      desired = this.acceptedConditions(accepted.config);
    } else {
      rejected.inc({ kind: this.kind });
      const messages = accepted.errors;
      this.deps.log.warn('invalid configuration', { kind: this.kind, namespace, name, errors: messages });
      const kept = this.deps.store.get(this.kind, namespace, name);
      desired = [
        { type: 'Accepted', status: 'False', reason: 'Invalid', message: messages.join('; ') },
        kept
          ? { type: 'Reconciled', status: 'False', reason: 'LastAcceptedInEffect', message: `generation ${kept.generation}, the last accepted one, stays in effect` }
          : { type: 'Reconciled', status: 'False', reason: 'NotInModel', message: 'the configuration is left out of the mesh model' },
      ];
    }
    this.writeStatusIfChanged(obj, desired);
  }

  private acceptedConditions(config: AnyConfig): DesiredCondition[] {
    const warnings = this.deps.warnings ? this.deps.warnings(config) : [];
    return [
      { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'the configuration is valid' },
      reconciledCondition(this.deps.rollout?.(config)),
      warnings.length
        ? { type: 'Warnings', status: 'True', reason: 'ConfigWarnings', message: warnings.map((w) => `${this.kind} ${config.namespace}/${config.name}: ${w}`).join('; ') }
        : { type: 'Warnings', status: 'False', reason: 'NoWarnings', message: 'no warnings' },
    ];
  }

  /**
   * Writes the status if it changed, when the object's turn comes (status-lane.ts): then it
   * writes the newest status asked for by that time.
   */
  private writeStatusIfChanged(obj: NetworkingObject, desired: DesiredCondition[]): void {
    const md = obj.metadata ?? {};
    const namespace = md.namespace ?? '';
    const name = md.name ?? '';
    const key = `${namespace}/${name}`;
    const uid = md.uid ?? '';
    const next = nextStatus(obj.status, md.generation ?? 0, desired, new Date().toISOString().replace(/\.\d+Z$/, 'Z'));
    // The informer may not have seen our last write yet: what we sent counts as written until it
    // does. From then on the object's own status decides (so a status someone else wrote over
    // ours is put back).
    let last = this.sent.get(key);
    if (last && (last.uid !== uid || sameStatus(obj.status, last.status))) {
      this.sent.delete(key);
      last = undefined;
    }
    if (sameStatus(obj.status, next) || (last && sameStatus(last.status, next))) {
      this.wanted.delete(key);
      return;
    }
    this.wanted.set(key, { namespace, name, uid, status: next });
    this.lane.request(key);
  }

  private startWrite(key: string): Promise<void> | undefined {
    const w = this.wanted.get(key);
    if (!w) return undefined;
    this.wanted.delete(key);
    this.sent.set(key, { uid: w.uid, status: w.status });
    return this.writeStatus(w.namespace, w.name, w.uid, w.status).then((ok) => {
      // Not written: forget it, so the next evaluation writes it again.
      if (!ok && this.sent.get(key)?.status === w.status) this.sent.delete(key);
    });
  }

  /** Resolves true once written, false if not (logged unless the object is gone or was replaced). */
  private async writeStatus(namespace: string, name: string, uid: string, status: ConfigStatus): Promise<boolean> {
    const path = `${apiPath(this.kind)}/namespaces/${namespace}/${PLURALS[this.kind]}/${name}/status`;
    try {
      // The uid makes the patch fail rather than touch a recreated object of the same name.
      await this.deps.rest.mergePatch(path, { metadata: { uid }, status });
      statusWrites.inc({ kind: this.kind });
      return true;
    } catch (err) {
      if (!(err instanceof ApiError && (err.status === 404 || err.status === 409 || err.status === 422))) this.deps.log.warn('status write failed', { kind: this.kind, namespace, name, error: String(err) });
      return false;
    }
  }
}

/** Reconciled, Istio's way: True once every proxy the object reaches holds its generation. */
export function reconciledCondition(r: Rollout | undefined): DesiredCondition {
  if (!r) return { type: 'Reconciled', status: 'True', reason: 'Reconciled', message: 'the configuration is part of the mesh model' };
  if (r.rejected.length > 0) return { type: 'Reconciled', status: 'False', reason: 'ProxyRejected', message: rolloutMessage(r) };
  return { type: 'Reconciled', status: r.upToDate === r.reached ? 'True' : 'False', reason: r.upToDate === r.reached ? 'Reconciled' : 'InProgress', message: rolloutMessage(r) };
}
