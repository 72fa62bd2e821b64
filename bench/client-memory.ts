// What each xDS client costs the control plane in memory: the live heap (after a full GC, read
// over the inspector) and the resident set, with the mesh of bench/vs-istiod (S Services,
// EndpointSlices and VirtualServices) and no client, then with N of its simulated sidecars
// (state of the world, CDS/LDS wildcard, RDS/EDS by name) synced.
//
//   npx tsc && node --experimental-websocket dist/bench/client-memory.js [--services 1000] [--clients 200] [--settle 30]
//
// Needs the devcluster without Trellis installed (make cluster-up): it applies crds/, creates the
// namespace vs-istiod with the mesh if absent (kept for the next run; delete it yourself), runs
// the control plane as a host process (test/support/control-plane.ts) with --inspect on a free
// loopback port, and removes it and its namespace at the end. Record results in BENCHMARKS.md.
import fs from 'node:fs';
import os from 'node:os';
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { clusterAvailable, kubeconfigPath, kube, testNamespace } from '../test/support/cluster.js';
import { ensureCrds, freePort, startControlPlane } from '../test/support/control-plane.js';
import { arg } from './args.js';
import { BenchApi } from './vs-istiod/api.js';
import { SimulatedSidecars } from './vs-istiod/clients.js';
import { NAMESPACE } from './vs-istiod/mesh.js';
import { parseProcStatusMemory } from './vs-istiod/stats.js';

const SERVICES = arg('services', 1000);
const CLIENTS = arg('clients', 200);
const SETTLE_S = arg('settle', 30);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

interface Inspector {
  call: (method: string, params?: object) => Promise<Record<string, unknown>>;
  /** Node.js with a debugger attached waits at exit until it goes: close it before the stop. */
  close: () => void;
}

/** One Chrome DevTools Protocol session over the inspector's WebSocket. */
async function inspector(port: number): Promise<Inspector> {
  const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const WS = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
  if (!WS) throw new Error('no WebSocket in this Node.js: run it with node --experimental-websocket');
  const ws = new WS(list[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let id = 0;
  const waiting = new Map<number, (r: Record<string, unknown>) => void>();
  ws.onmessage = (e: MessageEvent) => {
    const m = JSON.parse(String(e.data)) as { id?: number; result?: Record<string, unknown> };
    if (m.id !== undefined) waiting.get(m.id)?.(m.result ?? {});
  };
  return {
    call: (method, params = {}) =>
      new Promise((resolve) => {
        const n = ++id;
        waiting.set(n, resolve);
        ws.send(JSON.stringify({ id: n, method, params }));
      }),
    close: () => ws.close(),
  };
}

async function sample({ call }: Inspector, pid: number): Promise<{ heap: number; rss: number }> {
  await call('HeapProfiler.collectGarbage');
  await call('HeapProfiler.collectGarbage');
  const { usedSize } = (await call('Runtime.getHeapUsage')) as { usedSize: number };
  return { heap: usedSize, rss: parseProcStatusMemory(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).rss };
}

if (!clusterAvailable()) {
  process.stderr.write('client-memory: no cluster (make cluster-up)\n');
  process.exit(1);
}
const kc = new KubeConfig();
kc.loadFromFile(kubeconfigPath);
const api = new BenchApi(kc, kc.makeApiClient(CoreV1Api), KubernetesObjectApi.makeApiClient(kc));
process.stdout.write(`client-memory: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${SERVICES} services, ${CLIENTS} clients, ${new Date().toISOString()}\n`);
await ensureCrds();
if (!(await api.namespaceExists(NAMESPACE))) {
  process.stdout.write(`creating the mesh in ${NAMESPACE} (kept for the next run)\n`);
  await api.createNamespace(NAMESPACE);
  await api.createMesh(SERVICES, () => 'm0');
}
const ns = testNamespace('bench-client-memory');
const { core } = kube();
await core.createNamespace({ body: { metadata: { name: ns } } });
const port = await freePort();
const cp = await startControlPlane({ namespace: ns, validatingConfig: `trellis-validator-${ns}`, nodeArgs: [`--inspect=127.0.0.1:${port}`], extraArgs: ['--xds-max-streams-per-identity', String(CLIENTS + 100)] });
const pid = cp.proc.pid!;
let session: Inspector | undefined;
try {
  session = await inspector(port);
  await sleep(SETTLE_S * 1000);
  const before = await sample(session, pid);
  process.stdout.write(`no client:        heap ${mib(before.heap)}, RSS ${mib(before.rss)}\n`);
  const sidecars = new SimulatedSidecars(cp.xdsAddress, CLIENTS, SERVICES, '1.24.0');
  try {
    const { ms } = await sidecars.synced(600_000, () => undefined);
    await sleep(SETTLE_S * 1000);
    const after = await sample(session, pid);
    process.stdout.write(`${CLIENTS} clients synced in ${(ms / 1000).toFixed(1)} s: heap ${mib(after.heap)}, RSS ${mib(after.rss)}\n`);
    process.stdout.write(`per client: heap ${((after.heap - before.heap) / CLIENTS / 1024).toFixed(0)} KiB, RSS ${((after.rss - before.rss) / CLIENTS / 1024).toFixed(0)} KiB (after a full GC)\n`);
  } finally {
    await sidecars.stop();
  }
} finally {
  session?.close();
  // A benchmark must not leave it behind, whatever happened.
  const killer = setTimeout(() => cp.proc.kill('SIGKILL'), 15_000);
  const code = await cp.stop();
  clearTimeout(killer);
  if (code !== 0) process.stderr.write(`client-memory: the control plane did not stop cleanly on SIGTERM (exit ${code}); its log ends:\n${cp.logs().slice(-3000)}\n`);
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
  const adm = kc.makeApiClient(AdmissionregistrationV1Api);
  await adm.deleteValidatingWebhookConfiguration({ name: `trellis-validator-${ns}` }).catch(() => undefined);
  await adm.deleteMutatingWebhookConfiguration({ name: `trellis-sidecar-injector-${ns}` }).catch(() => undefined);
}
