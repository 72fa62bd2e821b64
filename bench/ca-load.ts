// The deployed mesh CA under load, as agents use it: every request a new TLS connection to the
// control plane's 15012 in the devcluster (the Service's cluster IP, through kube-proxy onto the
// pod on the isolated bridge), the pod's token and a CSR, every request with a distinct service
// account token (so every request costs the control plane a TokenReview with the API server, as
// a new pod does) or one shared token (`--tokens shared`: reviewed once, then cached). Reports
// certificates per second, latency percentiles, the control plane process's CPU per certificate
// (/proc/<pid>/stat of its container's process) and the clients'.
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
//                                         [--rate R]
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
import { createCsr, requestCertificate, spiffeId } from '../src/ca/certificate-client.js';
import { createCertificateOverH2 } from './grpc-unary-h2.js';

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
  const { clusterAvailable, devcluster, kube, root, run, testNamespace, waitFor } = await import('../test/support/cluster.js');
  const { Rest } = await import('../src/kube/rest.js');
  const REQUESTS = Number(arg('requests', '1000'));
  const PROCESSES = Number(arg('processes', '2'));
  const CONCURRENCY = Number(arg('concurrency', '8'));
  const RATE = Number(arg('rate', '0'));
  const CLIENT = arg('client', 'go');
  if (CLIENT !== 'go' && CLIENT !== 'agent' && CLIENT !== 'lean') {
    process.stderr.write(`ca-load: --client is go, lean or agent, not ${CLIENT}\n`);
    process.exit(2);
  }
  const goClient = CLIENT === 'go' ? await buildGoClient(root) : '';
  const TOKENS = arg('tokens', 'distinct');
  if (!clusterAvailable() || (await run(devcluster, ['status'])).code !== 0) {
    process.stderr.write('ca-load: the devcluster is not running (make cluster-up && make deploy)\n');
    process.exit(1);
  }
  const cpPid = fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .find((d) => {
      try {
        return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('dist/src/main.js') && fs.readFileSync(`/proc/${d}/environ`, 'utf8').includes('POD_NAMESPACE=trellis-system');
      } catch {
        return false;
      }
    });
  if (!cpPid) {
    process.stderr.write('ca-load: no Trellis control plane process in trellis-system (make deploy)\n');
    process.exit(1);
  }
  const cpuMs = (): number => {
    const f = fs.readFileSync(`/proc/${cpPid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, at USER_HZ 100
  };

  const { kc, core } = kube();
  const rest = new Rest(kc);
  const ns = testNamespace('bench-ca-load');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ca-load-'));
  process.stdout.write(`ca-load: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, ${new Date().toISOString()}; ${REQUESTS} requests from ${PROCESSES} processes, ${RATE > 0 ? `${RATE}/s offered (open loop)` : `${CONCURRENCY} in flight each`}, ${TOKENS} tokens, the ${CLIENT} client; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  try {
    await waitFor('the default service account', () => core.readNamespacedServiceAccount({ namespace: ns, name: 'default' }).catch(() => undefined), 60_000, 500);
    const rootPem = await waitFor('the published mesh root', async () => (await core.readNamespacedConfigMap({ namespace: ns, name: 'istio-ca-root-cert' }).catch(() => undefined))?.data?.['root-cert.pem'], 60_000, 500);
    const tokenCount = TOKENS === 'shared' ? 1 : REQUESTS;
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
    const csrs = CLIENT === 'go' ? [] : Array.from({ length: REQUESTS }, () => createCsr(id).csrPem);
    process.stdout.write(`prepared ${tokens.length} tokens (TokenRequest) and ${csrs.length} CSRs in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    // The clients run on the node, as kube-proxy routes a pod's traffic: to the Service's cluster IP.
    const clusterIp = (await core.readNamespacedService({ namespace: 'trellis-system', name: 'trellis' })).spec?.clusterIP;
    if (!clusterIp) throw new Error('the Service trellis-system/trellis has no cluster IP');
    const per = Math.ceil(REQUESTS / PROCESSES);
    const jobFiles = Array.from({ length: PROCESSES }, (_, p) => {
      const from = p * per;
      const to = Math.min(REQUESTS, (p + 1) * per);
      // Each Go process gets its share of the tokens, so no token is used twice across processes.
      const mine = TOKENS === 'shared' ? tokens : tokens.slice(from, to);
      const job: Job = { address: `${clusterIp}:15012`, serverName: 'trellis.trellis-system.svc', rootPem, spiffeId: id, tokens: CLIENT === 'go' ? mine : tokens, csrs, requests: to - from };
      const file = path.join(dir, `job-${p}.json`);
      fs.writeFileSync(file, JSON.stringify(job));
      return { file, from, to };
    });

    const script = path.join(root, 'dist/bench/ca-load.js');
    const cpu0 = cpuMs();
    const started = performance.now();
    const outputs = await Promise.all(
      jobFiles.map(({ file, from, to }, p) => {
        const [command, args] =
          CLIENT === 'go'
            ? [goClient, ['-job', file, ...(RATE > 0 ? ['-rate', String(RATE / PROCESSES)] : ['-concurrency', String(CONCURRENCY)])]]
            : [process.execPath, [script, '--worker', file, '--from', String(from), '--to', String(to), '--concurrency', String(CONCURRENCY), '--rate', String(RATE / PROCESSES), '--client', CLIENT]];
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
    const results = outputs.map((o) => JSON.parse(o.trim().split('\n').pop()!) as { lat: number[]; errors: string[]; ms: number; cpuMs: number });
    const lat = results.flatMap((r) => r.lat);
    const errors = results.flatMap((r) => r.errors);
    // The clients' own start (node, modules) is inside `wall`; the rate is over the slowest client's run.
    const slowest = Math.max(...results.map((r) => r.ms)) / 1000;
    process.stdout.write(
      `${lat.length} certificates, ${errors.length} errors${errors.length ? ` (first: ${errors[0]})` : ''}: ${(lat.length / slowest).toFixed(0)}/s ` +
        `(${slowest.toFixed(2)} s; ${wall.toFixed(2)} s with the clients' start), p50 ${pct(lat, 50).toFixed(1)} ms, p90 ${pct(lat, 90).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms; ` +
        `control plane CPU ${cpu.toFixed(0)} ms (${(cpu / Math.max(1, lat.length)).toFixed(2)} ms per certificate), ` +
        `clients' CPU ${(results.reduce((a, r) => a + r.cpuMs, 0) / Math.max(1, lat.length)).toFixed(2)} ms per certificate\n`,
    );
  } finally {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** bench/ca-client built (Go's standard library only, so no module is fetched) under .devcluster/cache/bench/. */
async function buildGoClient(root: string): Promise<string> {
  const out = path.join(root, '.devcluster/cache/bench/ca-client');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const code = await new Promise<number | null>((resolve) => spawn('go', ['build', '-o', out, '.'], { cwd: path.join(root, 'bench/ca-client'), stdio: 'inherit' }).on('exit', resolve).on('error', () => resolve(-1)));
  if (code !== 0) throw new Error('ca-load: building bench/ca-client failed (is Go installed? make setup installs it)');
  return out;
}

if (process.argv.includes('--worker')) await worker();
else await main();
process.exit(0);
