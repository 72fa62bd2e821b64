// The deployed mesh CA under load, as agents use it: every request a new TLS connection to the
// control plane's 15012 in the devcluster (the Service's cluster IP, through kube-proxy onto the
// pod on the isolated bridge), the pod's token and a CSR, every request with a distinct service
// account token (so every request costs the control plane a TokenReview with the API server, as
// a new pod does) or one shared token (`--tokens shared`: reviewed once, then cached). Reports
// certificates per second, latency percentiles, the CPU per certificate of the control plane
// (/proc/<pid>/stat of its container's process, every replica's), of the clients and of the API
// server, and with the Go client where a request's time went: the client's own delay, TCP
// connect, the TLS handshake, and from the request written to the answer's first byte (the CA's
// handler, TokenReview included).
//
// The clients run on this machine beside the control plane and the API server (real agents run
// on their own pods' CPUs), so what they cost matters:
//   --client go     (default) bench/ca-client, Go's standard library: ~2 ms of CPU a certificate
//   --client lean   bench/grpc-unary-h2.ts, Node's http2 with the CA's framing: ~6 ms
//   --client agent  the agent's own client (src/ca/certificate-client.ts, grpc-js): ~8 ms
// `--rate R` offers R requests/s in all (open loop: a request's latency counts from when it was
// due) instead of `--concurrency` in flight per process (closed loop).
//
//   npx tsc && node dist/bench/ca-load.js [--requests 1000] [--processes 2] [--concurrency 8]
//                                         [--tokens distinct|shared] [--client go|lean|agent]
//                                         [--rate R] [--rounds K] [--warmup W]
//                                         [--control-plane trellis|istiod] [--istiod-args "..."]
//                                         [--istiod-cpu-weight pod|host]
//
// `--control-plane istiod` measures istiod's CA instead (bench/vs-istiod's build, a host process
// on loopback: Trellis is scaled to 0 meanwhile); `--istiod-args` adds flags, e.g.
// "--kubernetesApiQPS=2000 --kubernetesApiBurst=4000" (istiod's default is 80 requests/s to the
// API server, its TokenReviews included); istiod gets the CPU weight of Trellis's pod
// (`--istiod-cpu-weight pod`, the default; `host` leaves it a host process's). Each of the K rounds has fresh tokens; W requests
// first warm the control plane up, not counted.
//
// Needs the devcluster with Trellis installed (make cluster-up && make deploy) and, for the Go
// client, Go (make setup installs it). Creates and deletes the namespace bench-ca-load-<id>.
// Record results in BENCHMARKS.md with the machine and the date.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { AdmissionregistrationV1Api } from '@kubernetes/client-node';
import { createCsr, requestCertificate, spiffeId } from '../src/ca/certificate-client.js';
import { Rest } from '../src/kube/rest.js';
import { clusterAvailable, devcluster, kube, root, run, testNamespace, waitFor } from '../test/support/cluster.js';
import { buildGoTool } from './go-tool.js';
import { createCertificateOverH2 } from './grpc-unary-h2.js';
import { placeLikeTrellisPod, release, TRELLIS_POD_SHARES } from './vs-istiod/cpu-weight.js';
import { Istiod } from './vs-istiod/istiod.js';
import { pidOfPod, Trellis } from './vs-istiod/trellis.js';

interface Job {
  address: string;
  serverName: string;
  rootPem: string;
  spiffeId: string;
  tokens: string[];
  /** The Node.js clients' CSRs; the Go client makes its own before its clock starts. */
  csrs: string[];
  /** The Go client's share of the requests. */
  requests?: number;
}

/** The Go client's timings of each request (bench/ca-client). */
interface Phases {
  late: number;
  connect: number;
  tls: number;
  answer: number;
  rest: number;
}
const PHASES: [keyof Phases, string][] = [
  ['late', "the client's own delay in starting it"],
  ['connect', 'TCP connect'],
  ['tls', 'TLS handshake'],
  ['answer', 'request to first byte of the answer (the CA\'s handler, TokenReview included)'],
  ['rest', "the answer's first byte to its trailers"],
];

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/** One certificate request from a client process, with the agent's client or the lean one. */
function requester(job: Job, client: string): (token: string, csrPem: string) => Promise<unknown> {
  if (client === 'agent') return (token, csrPem) => requestCertificate({ address: job.address, rootCaPem: job.rootPem, serverName: job.serverName, token, csrPem });
  const secureContext = tls.createSecureContext({ ca: job.rootPem });
  return (token, csrPem) => createCertificateOverH2({ address: job.address, secureContext, serverName: job.serverName, token, csrPem });
}

/**
 * A client process: requests [from, to) of the job, `concurrency` in flight (closed loop), or
 * started at `rate` per second whatever the answers (open loop: a request's latency counts from
 * when it was due, so a slow CA cannot hide its queue); prints JSON.
 */
async function worker(): Promise<void> {
  const job = JSON.parse(fs.readFileSync(arg('worker', ''), 'utf8')) as Job;
  const from = Number(arg('from', '0'));
  const to = Number(arg('to', '0'));
  const concurrency = Number(arg('concurrency', '8'));
  const rate = Number(arg('rate', '0'));
  const call = requester(job, arg('client', 'agent'));
  const lat: number[] = [];
  const errors: string[] = [];
  const one = async (i: number, due: number): Promise<void> => {
    try {
      await call(job.tokens[i % job.tokens.length], job.csrs[i]);
      lat.push(performance.now() - due);
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
    }
  };
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  if (rate > 0) {
    const pending: Promise<void>[] = [];
    for (let i = from; i < to; i++) {
      const due = start + ((i - from) * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      pending.push(one(i, due));
    }
    await Promise.all(pending);
  } else {
    let next = from;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < to) {
          const i = next++;
          await one(i, performance.now());
        }
      }),
    );
  }
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`${JSON.stringify({ lat, errors, ms: performance.now() - start, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
}

async function main(): Promise<void> {
  const REQUESTS = Number(arg('requests', '1000'));
  const PROCESSES = Number(arg('processes', '2'));
  const CONCURRENCY = Number(arg('concurrency', '8'));
  const RATE = Number(arg('rate', '0'));
  const ROUNDS = Number(arg('rounds', '1'));
  // A control plane just started has cold code and caches; the warm-up is not counted.
  const WARMUP = Number(arg('warmup', '200'));
  const CLIENT = arg('client', 'go');
  if (CLIENT !== 'go' && CLIENT !== 'agent' && CLIENT !== 'lean') {
    process.stderr.write(`ca-load: --client is go, lean or agent, not ${CLIENT}\n`);
    process.exit(2);
  }
  const goClient = CLIENT === 'go' ? await buildGoTool('ca-client') : '';
  const TOKENS = arg('tokens', 'distinct');
  if (!clusterAvailable() || (await run(devcluster, ['status'])).code !== 0) {
    process.stderr.write('ca-load: the devcluster is not running (make cluster-up && make deploy)\n');
    process.exit(1);
  }
  const PLANE = arg('control-plane', 'trellis');
  if (PLANE !== 'trellis' && PLANE !== 'istiod') {
    process.stderr.write(`ca-load: --control-plane is trellis or istiod, not ${PLANE}\n`);
    process.exit(2);
  }
  // The API server shares the machine and reviews every token: its CPU is part of each certificate's cost here.
  const apiServer = pidOfCommand('kube-apiserver');
  const { kc, core, apps } = kube();
  const rest = new Rest(kc);
  const ns = testNamespace('bench-ca-load');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ca-load-'));
  const trellis = new Trellis(apps, core, kc.makeApiClient(AdmissionregistrationV1Api), { namespace: 'trellis-system', name: 'trellis' });
  const plane = PLANE === 'istiod' ? await startIstiod(trellis, core) : await trellisCa(trellis, core);
  const cpuMs = (): number => plane.pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
  process.stdout.write(`ca-load: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, ${new Date().toISOString()}; ${REQUESTS} requests from ${PROCESSES} processes, ${RATE > 0 ? `${RATE}/s offered (open loop)` : `${CONCURRENCY} in flight each`}, ${TOKENS} tokens, the ${CLIENT} client, ${PLANE}'s CA; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  try {
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await waitFor('the default service account', () => core.readNamespacedServiceAccount({ namespace: ns, name: 'default' }).catch(() => undefined), 60_000, 500);
    const rootPem = plane.rootPem;
    // Every round has tokens of its own (a distinct token is reviewed once, then cached).
    const perRound = TOKENS === 'shared' ? 1 : REQUESTS;
    const tokenCount = perRound * ROUNDS + (TOKENS === 'shared' ? 0 : WARMUP);
    const t0 = performance.now();
    const tokens: string[] = [];
    for (let i = 0; i < tokenCount; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(20, tokenCount - i) }, () =>
          rest.post<{ status: { token: string } }>(`/api/v1/namespaces/${ns}/serviceaccounts/default/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['istio-ca'], expirationSeconds: 3600 } }),
        ),
      );
      tokens.push(...batch.map((b) => b.status.token));
    }
    const id = spiffeId({ trustDomain: 'cluster.local', namespace: ns, serviceAccount: 'default' });
    const csrs = CLIENT === 'go' ? [] : Array.from({ length: Math.max(REQUESTS, WARMUP) }, () => createCsr(id).csrPem);
    process.stdout.write(`prepared ${tokens.length} tokens (TokenRequest) and ${csrs.length} CSRs in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    const script = path.join(root, 'dist/bench/ca-load.js');

    /** One run of `requests` from the client processes with `roundTokens`; prints its line. */
    const round = async (label: string, roundTokens: string[], requests: number, rate: number): Promise<void> => {
      const per = Math.ceil(requests / PROCESSES);
      const jobFiles = Array.from({ length: PROCESSES }, (_, p) => {
        const from = p * per;
        const to = Math.min(requests, (p + 1) * per);
        // Each process gets its share of the tokens, so no token is used twice across processes.
        const mine = TOKENS === 'shared' ? roundTokens : roundTokens.slice(from, to);
        const job: Job = { address: plane.address, serverName: plane.serverName, rootPem, spiffeId: id, tokens: CLIENT === 'go' ? mine : roundTokens, csrs, requests: to - from };
        const file = path.join(dir, `job-${p}.json`);
        fs.writeFileSync(file, JSON.stringify(job));
        return { file, from, to };
      });
      const cpu0 = cpuMs();
      const api0 = apiServer ? processCpuMs(apiServer) : 0;
      const machine0 = machineTicks();
      const started = performance.now();
      const outputs = await Promise.all(
        jobFiles.map(({ file, from, to }, p) => {
          const [command, args] =
            CLIENT === 'go'
              ? [goClient, ['-job', file, ...(rate > 0 ? ['-rate', String(rate / PROCESSES)] : ['-concurrency', String(CONCURRENCY)])]]
              : [process.execPath, [script, '--worker', file, '--from', String(from), '--to', String(to), '--concurrency', String(CONCURRENCY), '--rate', String(rate / PROCESSES), '--client', CLIENT]];
          return new Promise<string>((resolve, reject) => {
            const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
            let out = '';
            child.stdout.on('data', (d: Buffer) => (out += d.toString()));
            child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`client process ${p} exited ${code}`))));
          });
        }),
      );
      const wall = (performance.now() - started) / 1000;
      const cpu = cpuMs() - cpu0;
      const api = apiServer ? processCpuMs(apiServer) - api0 : undefined;
      const machine1 = machineTicks();
      const results = outputs.map((o) => JSON.parse(o.trim().split('\n').pop()!) as { lat: number[]; phases?: Phases[]; errors: string[]; ms: number; cpuMs: number });
      const lat = results.flatMap((r) => r.lat);
      const errors = results.flatMap((r) => r.errors);
      // The clients' own start is inside `wall`; the rate is over the slowest client's run.
      const slowest = Math.max(...results.map((r) => r.ms)) / 1000;
      process.stdout.write(
        `${label}: ${lat.length} certificates, ${errors.length} errors${errors.length ? ` (first: ${errors[0]})` : ''}: ${(lat.length / slowest).toFixed(0)}/s ` +
          `(${slowest.toFixed(2)} s; ${wall.toFixed(2)} s with the clients' start), p50 ${pct(lat, 50).toFixed(1)} ms, p90 ${pct(lat, 90).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms; ` +
          `control plane CPU ${cpu.toFixed(0)} ms (${(cpu / Math.max(1, lat.length)).toFixed(2)} ms per certificate), ` +
          `clients' CPU ${(results.reduce((a, r) => a + r.cpuMs, 0) / Math.max(1, lat.length)).toFixed(2)} ms per certificate; ` +
          (api === undefined ? '' : `API server CPU ${(api / Math.max(1, lat.length)).toFixed(2)} ms per certificate; `) +
          `machine busy ${pctOf(machine1.busy - machine0.busy, machine1.total - machine0.total)}, stolen by the hypervisor ${pctOf(machine1.steal - machine0.steal, machine1.total - machine0.total)}\n`,
      );
      const phases = results.flatMap((r) => r.phases ?? []);
      if (phases.length > 0) process.stdout.write(`  where the time went (p50 / p90 / p99 ms): ${PHASES.map(([key, name]) => `${name} ${[50, 90, 99].map((p) => pct(phases.map((ph) => ph[key]), p).toFixed(1)).join(' / ')}`).join('; ')}\n`);
    };

    if (WARMUP > 0) await round('warm-up (not counted)', TOKENS === 'shared' ? tokens : tokens.slice(perRound * ROUNDS), WARMUP, 0);
    for (let r = 0; r < ROUNDS; r++) await round(`round ${r + 1}`, TOKENS === 'shared' ? tokens : tokens.slice(r * perRound, (r + 1) * perRound), REQUESTS, RATE);
  } finally {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    await plane.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface CaUnderTest {
  address: string;
  serverName: string;
  rootPem: string;
  /** The control plane's processes (one a replica), whose CPU is counted. */
  pids: number[];
  stop: () => Promise<void>;
}

type Kube = ReturnType<typeof kube>;

/**
 * Trellis as deployed: its Service's cluster IP (the clients run on the node, where kube-proxy
 * routes to a pod as for a pod's traffic); with more than one replica, kube-proxy spreads the
 * connections and every replica's CPU is counted.
 */
async function trellisCa(trellis: Trellis, core: Kube['core']): Promise<CaUnderTest> {
  const pods = (await trellis.pods()).filter((p) => p.ip);
  if (pods.length === 0) throw new Error('no running Trellis pod');
  const clusterIp = (await core.readNamespacedService({ namespace: 'trellis-system', name: 'trellis' })).spec?.clusterIP;
  if (!clusterIp) throw new Error('the Service trellis-system/trellis has no cluster IP');
  const rootPem = (await core.readNamespacedConfigMap({ namespace: 'trellis-system', name: 'istio-ca-root-cert' })).data?.['root-cert.pem'];
  if (!rootPem) throw new Error('trellis-system has no istio-ca-root-cert ConfigMap');
  return { address: `${clusterIp}:15012`, serverName: 'trellis.trellis-system.svc', rootPem, pids: pods.map((p) => pidOfPod(p.name)), stop: async () => undefined };
}

const ISTIOD_NS = 'ca-load-istiod-system';
const ISTIOD_PORTS = { grpcPort: 18010, httpPort: 18080, monitoringPort: 18014, securePort: 18012 };

/**
 * istiod (bench/vs-istiod's build) with its CA, as a host process on loopback: Trellis is scaled
 * to 0 first (both write istio-ca-root-cert into every namespace) and started again after, when
 * it puts its own root back.
 */
async function startIstiod(trellis: Trellis, core: Kube['core']): Promise<CaUnderTest> {
  const version = /^ISTIO_VERSION=(\S+)/m.exec(fs.readFileSync(path.join(root, 'bench/vs-istiod/versions.env'), 'utf8'))?.[1];
  const binary = path.join(root, '.devcluster/cache', `istiod-${version}`, 'pilot-discovery');
  if (!fs.existsSync(binary)) throw new Error(`${binary} is missing: run bench/vs-istiod/build-istiod.sh first`);
  await trellis.stop();
  await core.deleteNamespace({ name: ISTIOD_NS }).catch(() => undefined);
  await waitFor(`namespace ${ISTIOD_NS} gone`, async () => (await core.readNamespace({ name: ISTIOD_NS }).catch(() => undefined)) === undefined, 120_000, 500);
  await core.createNamespace({ body: { metadata: { name: ISTIOD_NS } } });
  const kubeconfig = process.env.KUBECONFIG ?? path.join(root, '.devcluster/kubeconfig');
  const args = (arg('istiod-args', '') || '').split(/\s+/).filter(Boolean);
  const istiod = await Istiod.start({ binary, kubeconfig, namespace: ISTIOD_NS, workDir: path.join(root, '.devcluster/ca-load-istiod'), ...ISTIOD_PORTS, args });
  // The CPU weight of Trellis's pod (vs-istiod/cpu-weight.ts): a host process outweighs the pods
  // whenever the clients and the API server keep both CPUs busy.
  const weight = arg('istiod-cpu-weight', 'pod');
  const placed = weight === 'pod' ? placeLikeTrellisPod(istiod.pid, 'ca-load-istiod') : { skipped: '--istiod-cpu-weight host' };
  process.stdout.write('dir' in placed ? `istiod runs in ${placed.dir} (cpu.shares ${TRELLIS_POD_SHARES}, the CPU weight of Trellis's pod)\n` : `istiod keeps a host process's CPU weight: ${placed.skipped}\n`);
  const stop = async (): Promise<void> => {
    await istiod.stop();
    if ('dir' in placed) release(placed.dir);
    await core.deleteNamespace({ name: ISTIOD_NS }).catch(() => undefined);
    // What its CA wrote elsewhere: istio-ca-crl in every namespace, and istio-ca-root-cert where
    // Trellis publishes none (kube-system); Trellis puts its own root back in the others.
    for (const cm of (await core.listConfigMapForAllNamespaces({ fieldSelector: 'metadata.name=istio-ca-crl' })).items) {
      if (cm.metadata?.managedFields?.some((f) => f.manager === 'pilot-discovery')) await core.deleteNamespacedConfigMap({ namespace: cm.metadata.namespace ?? '', name: cm.metadata.name ?? '' }).catch(() => undefined);
    }
    for (const cm of (await core.listConfigMapForAllNamespaces({ fieldSelector: 'metadata.name=istio-ca-root-cert' })).items) {
      if (cm.metadata?.managedFields?.every((f) => f.manager === 'pilot-discovery')) await core.deleteNamespacedConfigMap({ namespace: cm.metadata.namespace ?? '', name: cm.metadata.name ?? '' }).catch(() => undefined);
    }
    await trellis.start(1);
  };
  try {
    const secret = await waitFor('istiod\'s root (istio-ca-secret)', async () => (await core.readNamespacedSecret({ namespace: ISTIOD_NS, name: 'istio-ca-secret' }).catch(() => undefined))?.data?.['ca-cert.pem'], 60_000, 500);
    await new Promise((r) => setTimeout(r, 10_000)); // its start-up work (informers, the root ConfigMaps) done
    return { address: `127.0.0.1:${ISTIOD_PORTS.securePort}`, serverName: `istiod.${ISTIOD_NS}.svc`, rootPem: Buffer.from(secret, 'base64').toString(), pids: [istiod.pid], stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A process's CPU time (utime + stime, at USER_HZ 100) in ms. */
function processCpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

/** The PID of the one host process whose command is `name` (the devcluster runs its daemons on the host), if there is one. */
function pidOfCommand(name: string): number | undefined {
  const found = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e) && (() => {
    try {
      return fs.readFileSync(`/proc/${e}/comm`, 'utf8').trim() === name;
    } catch {
      return false;
    }
  })());
  return found.length === 1 ? Number(found[0]) : undefined;
}

/**
 * The machine's CPU time from /proc/stat: busy (user, nice, system, irq, softirq), steal (taken
 * by the hypervisor for other guests: this VM's numbers move with it) and total.
 */
function machineTicks(): { busy: number; steal: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return { busy: user + nice + system + irq + softirq, steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
}
const pctOf = (part: number, whole: number): string => `${((100 * part) / Math.max(1, whole)).toFixed(0)}%`;

if (process.argv.includes('--worker')) await worker();
else await main();
process.exit(0);
