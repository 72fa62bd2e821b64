// New pods and their workload certificates: one Deployment of N small injected pods (the app is
// `sleep`), timed from its creation until every pod's agent has logged "workload certificate
// issued" (the proxy container's log, as the devcluster's kubelet keeps it under
// .devcluster/pod-logs/), and until every pod is Ready. Per pod: creation to certificate, and the
// agent's own start to certificate (key, CSR, the CA's TokenReview and signing, retries
// included); the control plane process's CPU over the whole run.
//
//   npx tsc && node dist/bench/pod-certificates.js [--pods 100] [--timeout 900]
//
// Needs the devcluster with Trellis installed (make cluster-up && make deploy) and memory for
// N pods (each runs the agent, Envoy and sleep: about 100 MB). Creates and deletes the
// namespace bench-pods-<id>. Record results in BENCHMARKS.md with the machine and the date.
import fs from 'node:fs';
import os from 'node:os';
import { PROXY_NAME } from '../src/webhooks/inject.js';
import { clusterAvailable, devcluster, ECHO_IMAGE, kube, nodeContainerLog, run, testNamespace } from '../test/support/cluster.js';
import { arg } from './args.js';

const PODS = arg('pods', 100);
const TIMEOUT_S = arg('timeout', 900);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function controlPlaneCpuMs(): () => number {
  const pid = fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .find((d) => {
      try {
        return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('dist/src/main.js') && fs.readFileSync(`/proc/${d}/environ`, 'utf8').includes('POD_NAMESPACE=trellis-system');
      } catch {
        return false;
      }
    });
  return () => {
    if (!pid) return NaN;
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  };
}

interface AgentTimes {
  /** The agent's first log line. */
  start?: number;
  issued?: number;
  retries: number;
}

/** What the agent of `pod` has logged so far (timestamps of its JSON lines). */
function agentTimes(ns: string, pod: string): AgentTimes {
  const out: AgentTimes = { retries: 0 };
  const text = nodeContainerLog(ns, pod, PROXY_NAME);
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: { timestamp?: string; message?: string };
    try {
      entry = JSON.parse(line) as { timestamp?: string; message?: string };
    } catch {
      continue;
    }
    const t = entry.timestamp ? Date.parse(entry.timestamp) : NaN;
    if (Number.isNaN(t)) continue;
    out.start ??= t;
    if (entry.message === 'workload certificate issued') out.issued ??= t;
    if (entry.message?.startsWith('cannot obtain the workload certificate')) out.retries++;
  }
  return out;
}

if (!clusterAvailable() || (await run(devcluster, ['status'])).code !== 0) {
  process.stderr.write('pod-certificates: the devcluster is not running (make cluster-up && make deploy)\n');
  process.exit(1);
}
const { core, apps } = kube();
if (!(await apps.readNamespacedDeployment({ namespace: 'trellis-system', name: 'trellis' }).catch(() => undefined))?.status?.readyReplicas) {
  process.stderr.write('pod-certificates: Trellis is not installed in the devcluster (make deploy)\n');
  process.exit(1);
}
const ns = testNamespace('bench-pods');
const cpu = controlPlaneCpuMs();
process.stdout.write(`pod-certificates: ${PODS} pods; ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, ${new Date().toISOString()}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
await core.createNamespace({ body: { metadata: { name: ns, labels: { 'trellis-injection': 'enabled' } } } });
try {
  const cpu0 = cpu();
  const t0 = Date.now();
  await apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: 'sleeper' },
      spec: {
        replicas: PODS,
        selector: { matchLabels: { app: 'sleeper' } },
        template: { metadata: { labels: { app: 'sleeper' } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: ECHO_IMAGE, command: ['sleep', 'infinity'] }] } },
      },
    },
  });
  const times = new Map<string, AgentTimes>();
  let ready = new Set<string>();
  let allIssuedAt: number | undefined;
  let allReadyAt: number | undefined;
  let lastReport = 0;
  while (Date.now() - t0 < TIMEOUT_S * 1000) {
    const pods = (await core.listNamespacedPod({ namespace: ns })).items;
    for (const p of pods) {
      const name = p.metadata!.name!;
      if (!times.get(name)?.issued) times.set(name, agentTimes(ns, name));
    }
    ready = new Set(pods.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).map((p) => p.metadata!.name!));
    const issued = [...times.values()].filter((t) => t.issued).length;
    if (!allIssuedAt && issued >= PODS) allIssuedAt = Date.now();
    if (!allReadyAt && ready.size >= PODS) allReadyAt = Date.now();
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      process.stdout.write(`  ${s(Date.now() - t0)}: ${pods.length} pods, ${issued} with a certificate, ${ready.size} Ready; load average ${os.loadavg()[0].toFixed(1)}\n`);
    }
    if (allIssuedAt && allReadyAt) break;
    await sleep(1000);
  }
  const cpuUsed = cpu() - cpu0;
  const all = [...times.values()];
  const issued = all.filter((t) => t.issued);
  const fromCreate = issued.map((t) => t.issued! - t0);
  const fromAgent = issued.filter((t) => t.start).map((t) => t.issued! - t.start!);
  process.stdout.write(
    `${issued.length}/${PODS} pods hold a certificate; the last after ${issued.length ? s(Math.max(...fromCreate)) : '-'} from the Deployment's creation ` +
      `(the poll saw it at ${allIssuedAt ? s(allIssuedAt - t0) : 'never'}); all Ready at ${allReadyAt ? s(allReadyAt - t0) : `never (${ready.size} Ready)`}\n` +
      `creation -> certificate per pod: p50 ${s(pct(fromCreate, 50))}, p90 ${s(pct(fromCreate, 90))}, max ${s(Math.max(...fromCreate))}\n` +
      `agent start -> certificate per pod: p50 ${pct(fromAgent, 50).toFixed(0)} ms, p90 ${pct(fromAgent, 90).toFixed(0)} ms, max ${Math.max(...fromAgent).toFixed(0)} ms; ` +
      `retries logged: ${all.reduce((a, t) => a + t.retries, 0)}\n` +
      `control plane CPU during the run: ${s(cpuUsed)}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`,
  );
} finally {
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
}
process.exit(0);
