// One pod on the devcluster's node: its network, volumes, init containers, containers, probes,
// restarts, status, and graceful termination. The kubelet's job for a single pod.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Container, V1Pod, V1Probe, V1Service } from '@kubernetes/client-node';
import { identity, launch } from './container.js';
import { containerEnv } from './env.js';
import { execInContainer } from './exec-in.js';
import type { ImageTable } from './images.js';
import type { Rest } from '../../../src/kube/rest.js';
import type { Log } from './log.js';
import { createPodNetwork, deletePodNetwork, type Ipam } from './podnet.js';
import { probeOnce } from './probes.js';
import type { Settings } from './settings.js';
import { materialiseVolumes, MountPendingError } from './volumes.js';

export interface NodeContext {
  api: Rest;
  settings: Settings;
  images: ImageTable;
  ipam: Ipam;
  podsDir: string;
  services: () => V1Service[];
  log: Log;
}

// Container states as written to the API (timestamps as RFC 3339 strings).
interface CState {
  waiting?: { reason: string; message?: string };
  running?: { startedAt: string };
  terminated?: { exitCode: number; reason: string; startedAt: string; finishedAt: string };
}

interface Ctr {
  spec: V1Container;
  init: boolean;
  sidecar: boolean; // an init container with restartPolicy Always
  proc?: ChildProcess;
  restartCount: number;
  state: CState;
  lastState?: CState;
  ready: boolean;
  started: boolean;
  startedAtMs: number;
  probeTimers: NodeJS.Timeout[];
  exited?: Promise<number>;
}

const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export class PodWorker {
  private pod: V1Pod;
  private readonly ns: string;
  private readonly name: string;
  private readonly uid: string;
  private readonly dir: string;
  private readonly ctrs: Ctr[];
  private podIp = '';
  private netns = '';
  private volumes = new Map<string, string>();
  private phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' = 'Pending';
  private initialized = false;
  private terminating = false;
  private finished = false;
  private startTime = now();
  private reason: string | undefined;
  private message: string | undefined;
  private readonly transitions = new Map<string, { status: string; at: string }>();
  private statusTimer: NodeJS.Timeout | undefined;
  private statusWrite: Promise<void> = Promise.resolve();
  private env = new Map<string, Record<string, string>>();

  constructor(
    private readonly ctx: NodeContext,
    pod: V1Pod,
  ) {
    this.pod = pod;
    this.ns = pod.metadata?.namespace ?? 'default';
    this.name = pod.metadata?.name ?? '';
    this.uid = pod.metadata?.uid ?? '';
    this.dir = path.join(ctx.podsDir, this.ns, `${this.name}-${this.uid.slice(0, 8)}`);
    const mk = (spec: V1Container, init: boolean): Ctr => ({
      spec,
      init,
      sidecar: init && spec.restartPolicy === 'Always',
      restartCount: 0,
      state: { waiting: { reason: init ? 'PodInitializing' : 'ContainerCreating' } },
      ready: false,
      started: false,
      startedAtMs: 0,
      probeTimers: [],
    });
    this.ctrs = [...(pod.spec?.initContainers ?? []).map((c) => mk(c, true)), ...(pod.spec?.containers ?? []).map((c) => mk(c, false))];
  }

  get key(): string {
    return `${this.ns}/${this.name}`;
  }

  update(pod: V1Pod): void {
    this.pod = pod;
  }

  async run(): Promise<void> {
    try {
      await this.prepare();
    } catch (err) {
      this.ctx.log.warn(`pod ${this.key}: ${(err as Error).message}`);
      this.reason = 'CreateContainerConfigError';
      this.message = (err as Error).message;
      for (const c of this.ctrs) c.state = { waiting: { reason: 'CreateContainerConfigError', message: this.message } };
      this.syncStatus();
      return;
    }
    for (const c of this.ctrs.filter((x) => x.init)) {
      if (this.terminating) return;
      if (c.sidecar) {
        // Like the kubelet: the next container starts once this sidecar has started (its
        // startupProbe, if any, has passed).
        this.supervise(c);
        while (!this.terminating && !(c.state.running && c.started)) await sleep(200);
        continue;
      }
      const ok = await this.runToCompletion(c);
      if (!ok) return;
    }
    this.initialized = true;
    for (const c of this.ctrs.filter((x) => !x.init)) this.supervise(c);
    this.syncStatus();
  }

  private async prepare(): Promise<void> {
    fs.mkdirSync(path.join(this.dir, 'etc'), { recursive: true });
    fs.mkdirSync(path.join(this.dir, 'logs'), { recursive: true });
    const s = this.ctx.settings;
    this.podIp = this.ctx.ipam.allocate(this.uid);
    const hostname = this.hostname();
    fs.writeFileSync(
      path.join(this.dir, 'etc/resolv.conf'),
      `search ${this.ns}.svc.${s.clusterDomain} svc.${s.clusterDomain} ${s.clusterDomain}\nnameserver ${s.bridgeIp}\noptions ndots:5\n`,
    );
    fs.writeFileSync(path.join(this.dir, 'etc/hosts'), `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n${this.podIp}\t${hostname}\n`);
    this.netns = await createPodNetwork(s, this.uid, this.podIp);
    fs.writeFileSync(path.join(this.dir, 'pod.json'), JSON.stringify({ namespace: this.ns, name: this.name, uid: this.uid, netns: this.netns, ip: this.podIp }));
    this.syncStatus();
    // Like the kubelet, a ConfigMap or Secret that does not exist yet is waited for: the pod
    // stays ContainerCreating and starts once it appears.
    for (let attempt = 0; ; attempt++) {
      try {
        this.volumes = await materialiseVolumes(this.ctx.api, this.pod, this.dir);
        break;
      } catch (err) {
        if (!(err instanceof MountPendingError) || this.terminating) throw err;
        if (this.message !== err.message) this.ctx.log.info(`pod ${this.key}: ${err.message}; retrying`);
        this.message = err.message;
        for (const c of this.ctrs) c.state = { waiting: { reason: 'ContainerCreating', message: err.message } };
        this.syncStatus();
        await sleep(Math.min(5000, 500 * 2 ** attempt));
      }
    }
    this.message = undefined;
    const cms = new Map<string, Record<string, string> | undefined>();
    const secrets = new Map<string, Record<string, string> | undefined>();
    await this.prefetchRefs(cms, secrets);
    for (const c of this.ctrs) {
      this.env.set(
        c.spec.name,
        containerEnv(c.spec, {
          pod: this.pod,
          podIp: this.podIp,
          hostIp: s.nodeIp,
          services: this.ctx.services(),
          kubernetesSvcIp: s.kubernetesSvcIp,
          configMap: (_ns, name) => cms.get(name),
          secret: (_ns, name) => secrets.get(name),
        }),
      );
    }
  }

  private hostname(): string {
    const h = this.pod.spec?.hostname ?? this.name;
    return h.slice(0, 63);
  }

  private async prefetchRefs(cms: Map<string, Record<string, string> | undefined>, secrets: Map<string, Record<string, string> | undefined>): Promise<void> {
    const want = (kind: 'configmaps' | 'secrets', name: string | undefined): void => {
      if (name) (kind === 'configmaps' ? cms : secrets).set(name, undefined);
    };
    for (const c of this.ctrs) {
      for (const f of c.spec.envFrom ?? []) {
        want('configmaps', f.configMapRef?.name);
        want('secrets', f.secretRef?.name);
      }
      for (const e of c.spec.env ?? []) {
        want('configmaps', e.valueFrom?.configMapKeyRef?.name);
        want('secrets', e.valueFrom?.secretKeyRef?.name);
      }
    }
    for (const [map, kind] of [
      [cms, 'configmaps'],
      [secrets, 'secrets'],
    ] as const) {
      for (const name of map.keys()) {
        try {
          const obj = await this.ctx.api.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${this.ns}/${kind}/${name}`);
          const data = obj.data ?? {};
          map.set(name, kind === 'secrets' ? Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])) : data);
        } catch {
          map.set(name, undefined);
        }
      }
    }
  }

  /** Starts a container's process; resolves nothing, `c.exited` settles when it ends. */
  private start(c: Ctr): boolean {
    const image = this.ctx.images.lookup(c.spec.image ?? '');
    if (!image) {
      const message = `the devcluster has no local command for image "${c.spec.image}" (known: ${this.ctx.images.known.join(', ')}; see tools/devcluster/images.json)`;
      c.state = { waiting: { reason: 'ErrImagePull', message } };
      this.reason = undefined;
      this.syncStatus();
      return false;
    }
    let proc: ChildProcess;
    try {
      proc = launch({
        container: c.spec,
        image,
        env: this.env.get(c.spec.name) ?? {},
        podSecurity: this.pod.spec?.securityContext,
        netns: this.netns,
        hostname: this.hostname(),
        podDir: this.dir,
        volumes: this.volumes,
        logFile: path.join(this.dir, 'logs', `${c.spec.name}.log`),
      });
    } catch (err) {
      c.state = { waiting: { reason: 'CreateContainerError', message: (err as Error).message } };
      this.syncStatus();
      return false;
    }
    c.proc = proc;
    c.startedAtMs = Date.now();
    c.started = !c.spec.startupProbe;
    c.ready = false;
    c.state = { running: { startedAt: now() } };
    this.recordContainers();
    c.exited = new Promise<number>((resolve) => {
      proc.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + signalNumber(signal) : 1)));
      proc.on('error', () => resolve(127));
    });
    this.startProbes(c);
    this.syncStatus();
    return true;
  }

  private recordContainers(): void {
    const out: Record<string, { pid: number; uid: number; gid: number; path: string[] }> = {};
    for (const c of this.ctrs) {
      if (!c.proc?.pid || c.state.running === undefined) continue;
      const { uid, gid } = identity(c.spec, this.pod.spec?.securityContext);
      out[c.spec.name] = { pid: c.proc.pid, uid, gid, path: this.ctx.images.lookup(c.spec.image ?? '')?.path ?? [] };
    }
    fs.writeFileSync(path.join(this.dir, 'containers.json'), JSON.stringify({
        main: this.ctrs.filter((c) => !c.init).map((c) => c.spec.name),
        defaultContainer: this.pod.metadata?.annotations?.['kubectl.kubernetes.io/default-container'],
        running: out,
      }));
  }

  private async runToCompletion(c: Ctr): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      if (this.terminating) return false;
      if (!this.start(c)) {
        await sleep(backoffMs(attempt));
        continue;
      }
      const code = await c.exited!;
      this.stopProbes(c);
      c.state = { terminated: { exitCode: code, reason: code === 0 ? 'Completed' : 'Error', startedAt: new Date(c.startedAtMs).toISOString(), finishedAt: now() } };
      c.proc = undefined;
      this.recordContainers();
      if (code === 0) {
        c.ready = false;
        this.syncStatus();
        return true;
      }
      this.ctx.log.info(`pod ${this.key}: init container ${c.spec.name} exited ${code}`);
      if ((this.pod.spec?.restartPolicy ?? 'Always') === 'Never') {
        this.phase = 'Failed';
        this.syncStatus();
        return false;
      }
      c.lastState = c.state;
      c.restartCount++;
      this.syncStatus();
      await sleep(backoffMs(attempt));
    }
  }

  /** Runs a long-lived container, restarting it as the pod's restartPolicy says. */
  private supervise(c: Ctr): void {
    void (async () => {
      for (let attempt = 0; !this.terminating; ) {
        if (!this.start(c)) {
          await sleep(backoffMs(attempt++));
          continue;
        }
        const code = await c.exited!;
        this.stopProbes(c);
        const ranMs = Date.now() - c.startedAtMs;
        c.state = { terminated: { exitCode: code, reason: code === 0 ? 'Completed' : 'Error', startedAt: new Date(c.startedAtMs).toISOString(), finishedAt: now() } };
        c.ready = false;
        c.proc = undefined;
        this.recordContainers();
        if (this.terminating) break;
        const policy = c.sidecar ? 'Always' : (this.pod.spec?.restartPolicy ?? 'Always');
        const restart = policy === 'Always' || (policy === 'OnFailure' && code !== 0);
        if (!restart) {
          this.syncStatus();
          this.checkCompleted();
          return;
        }
        this.ctx.log.info(`pod ${this.key}: container ${c.spec.name} exited ${code}; restarting`);
        c.lastState = c.state;
        c.restartCount++;
        attempt = ranMs > 60_000 ? 0 : attempt + 1;
        c.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting container ${c.spec.name}` } };
        this.syncStatus();
        await sleep(backoffMs(attempt));
      }
      this.syncStatus();
    })();
  }

  private checkCompleted(): void {
    const main = this.ctrs.filter((c) => !c.init);
    if (!main.every((c) => c.state.terminated)) return;
    this.phase = main.every((c) => c.state.terminated?.exitCode === 0) ? 'Succeeded' : 'Failed';
    // A finished pod's sidecars are stopped, as the kubelet does.
    void this.stopAll(2);
    this.syncStatus();
  }

  private startProbes(c: Ctr): void {
    this.stopProbes(c);
    const loop = (probe: V1Probe | undefined, kind: 'startup' | 'readiness' | 'liveness'): void => {
      if (!probe) return;
      let successes = 0;
      let failures = 0;
      const period = (probe.periodSeconds ?? 10) * 1000;
      const tick = async (): Promise<void> => {
        if (!c.proc || this.terminating) return;
        if (kind !== 'startup' && !c.started) {
          c.probeTimers.push(setTimeout(() => void tick(), Math.min(period, 1000)));
          return;
        }
        const ok = await probeOnce(probe, c.spec, this.podIp, (cmd, timeoutMs) => this.execProbe(c, cmd, timeoutMs)).catch(() => false);
        if (ok) {
          successes++;
          failures = 0;
        } else {
          failures++;
          successes = 0;
        }
        if (kind === 'startup') {
          if (ok) {
            c.started = true;
            this.syncStatus();
            return; // the startup probe stops after its first success
          }
          if (failures >= (probe.failureThreshold ?? 3)) c.proc?.kill('SIGKILL');
        } else if (kind === 'readiness') {
          const ready = ok ? successes >= (probe.successThreshold ?? 1) || c.ready : failures < (probe.failureThreshold ?? 3) && c.ready;
          if (ready !== c.ready) {
            c.ready = ready;
            this.syncStatus();
          }
        } else if (!ok && failures >= (probe.failureThreshold ?? 3)) {
          this.ctx.log.info(`pod ${this.key}: container ${c.spec.name} failed its liveness probe; killing it`);
          if (c.proc?.pid) killGroup(c.proc.pid, 'SIGKILL');
          return;
        }
        c.probeTimers.push(setTimeout(() => void tick(), period));
      };
      c.probeTimers.push(setTimeout(() => void tick(), (probe.initialDelaySeconds ?? 0) * 1000));
    };
    loop(c.spec.startupProbe, 'startup');
    loop(c.spec.livenessProbe, 'liveness');
    if (c.spec.readinessProbe) loop(c.spec.readinessProbe, 'readiness');
    else {
      // Without a readiness probe a container is ready once it has started.
      const markReady = (): void => {
        if (!c.proc) return;
        if (c.started) {
          c.ready = true;
          this.syncStatus();
        } else c.probeTimers.push(setTimeout(markReady, 500));
      };
      markReady();
    }
  }

  private stopProbes(c: Ctr): void {
    for (const t of c.probeTimers) clearTimeout(t);
    c.probeTimers = [];
  }

  private async execProbe(c: Ctr, cmd: string[], timeoutMs: number): Promise<boolean> {
    if (!c.proc?.pid) return false;
    const { uid, gid } = identity(c.spec, this.pod.spec?.securityContext);
    const image = this.ctx.images.lookup(c.spec.image ?? '');
    const code = await execInContainer({ pid: c.proc.pid, uid, gid, path: image?.path ?? [], argv: cmd, stdio: 'ignore', timeoutMs });
    return code === 0;
  }

  /** Graceful stop: SIGTERM, then SIGKILL after the grace period; sidecars stop last. */
  async terminate(graceSeconds: number, deleteObject: boolean): Promise<void> {
    if (this.finished) return;
    this.terminating = true;
    await this.stopAll(graceSeconds);
    this.finished = true;
    if (this.statusTimer) clearTimeout(this.statusTimer);
    await this.statusWrite;
    if (deleteObject) {
      await this.ctx.api
        .delete(`/api/v1/namespaces/${this.ns}/pods/${this.name}`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: this.uid } })
        .catch((err: Error) => this.ctx.log.debug(`pod ${this.key}: final delete: ${err.message}`));
    }
    await deletePodNetwork(this.ctx.settings, this.uid);
    this.ctx.ipam.release(this.uid);
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.ctx.log.info(`pod ${this.key}: removed`);
  }

  private async stopAll(graceSeconds: number): Promise<void> {
    const deadline = Date.now() + graceSeconds * 1000;
    const stopGroup = async (group: Ctr[]): Promise<void> => {
      for (const c of group) {
        this.stopProbes(c);
        // Like a container runtime: SIGTERM to the main process only (it may drain its
        // children first); whatever is left of the container is killed when it exits.
        if (c.proc?.pid) signalPid(c.proc.pid, 'SIGTERM');
      }
      await Promise.all(
        group.map(async (c) => {
          if (!c.proc || !c.exited) return;
          const left = Math.max(0, deadline - Date.now());
          const pid = c.proc.pid;
          const done = await Promise.race([c.exited.then(() => true), sleep(left).then(() => false)]);
          if (pid) killGroup(pid, 'SIGKILL');
          if (!done) await c.exited;
        }),
      );
    };
    await stopGroup(this.ctrs.filter((c) => !c.init));
    await stopGroup(this.ctrs.filter((c) => c.sidecar).reverse());
  }

  // --- status ------------------------------------------------------------------------------

  private syncStatus(): void {
    if (this.finished || this.statusTimer) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      this.statusWrite = this.statusWrite
        .then(() => this.writeStatus())
        .catch((err: Error) => this.ctx.log.warn(`pod ${this.key}: status: ${err.message}`));
    }, 50);
  }

  private condition(type: string, ok: boolean): Record<string, string | null> {
    const status = ok ? 'True' : 'False';
    const prev = this.transitions.get(type);
    if (!prev || prev.status !== status) this.transitions.set(type, { status, at: now() });
    return { type, status, lastProbeTime: null, lastTransitionTime: this.transitions.get(type)!.at };
  }

  private containerStatus(c: Ctr): Record<string, unknown> {
    return {
      name: c.spec.name,
      image: c.spec.image ?? '',
      imageID: `devcluster://${c.spec.image ?? ''}`,
      containerID: c.proc?.pid ? `devcluster://${c.proc.pid}` : undefined,
      ready: c.ready,
      started: c.state.running !== undefined && c.started,
      restartCount: c.restartCount,
      state: c.state,
      lastState: c.lastState ?? {},
    };
  }

  private async writeStatus(): Promise<void> {
    if (this.finished) return;
    const main = this.ctrs.filter((c) => !c.init);
    if (this.phase === 'Pending' && this.initialized && main.some((c) => c.state.running)) this.phase = 'Running';
    const containersReady = main.every((c) => c.ready) && this.ctrs.filter((c) => c.sidecar).every((c) => c.ready);
    const terminal = this.phase === 'Succeeded' || this.phase === 'Failed';
    const status = {
      phase: this.phase,
      reason: this.reason,
      message: this.message,
      hostIP: this.ctx.settings.nodeIp,
      hostIPs: [{ ip: this.ctx.settings.nodeIp }],
      podIP: this.podIp || undefined,
      podIPs: this.podIp ? [{ ip: this.podIp }] : undefined,
      startTime: this.startTime,
      conditions: [
        this.condition('PodReadyToStartContainers', this.netns !== ''),
        this.condition('Initialized', this.initialized),
        this.condition('ContainersReady', containersReady && !terminal),
        this.condition('Ready', containersReady && !terminal && !this.terminating),
        this.condition('PodScheduled', true),
      ],
      initContainerStatuses: this.ctrs.filter((c) => c.init).map((c) => this.containerStatus(c)),
      containerStatuses: main.map((c) => this.containerStatus(c)),
    };
    await this.ctx.api.mergePatch(`/api/v1/namespaces/${this.ns}/pods/${this.name}/status`, { metadata: { uid: this.uid }, status });
  }
}

function backoffMs(attempt: number): number {
  return Math.min(30_000, 1000 * 2 ** attempt);
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  const table: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6 };
  return table[signal] ?? 1;
}
