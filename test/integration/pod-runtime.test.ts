// Meshed pods in real containers (the devcluster's kubelet, containerd and runc): the isolation
// the product claims, checked where the runtime applied it, and the kubelet behaviour the mesh
// depends on — the native sidecar starts before the app and stops after it, and the pod is Ready
// only while the proxy's readiness (15021) passes.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { injectPod, PROXY_NAME } from '../../src/webhooks/inject.js';
import { clientPod, clusterAvailable, criLines, ECHO_IMAGE, fetchInPod, kube, podExec, PROXY_IMAGE, root, testNamespace, waitFor } from '../support/cluster.js';
import { testMeshCa } from '../support/envoy.js';

const ns = testNamespace('runtime');
const { core } = kube();
const containerdSocket = path.join(root, '.devcluster/run/containerd/containerd.sock');

// The app marks its start, its SIGTERM and its exit in its log; it takes 2 s to exit, so a
// sidecar stopped with it (not after it) would log its drain before the app's exit.
const APP = 'echo "app-start"; trap \'echo app-term; sleep 2; echo app-exit; exit 0\' TERM; while true; do sleep 0.2; done';

function meshedPod(name: string): V1Pod {
  const pod: V1Pod = {
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: { terminationGracePeriodSeconds: 20, containers: [{ name: 'app', image: ECHO_IMAGE, command: ['sh', '-c', APP] }] },
  };
  // Nothing listens at the discovery address: the proxy still starts and becomes ready.
  const r = injectPod(pod, { proxyImage: PROXY_IMAGE, discoveryAddress: '127.0.0.1:1', proxyUid: 1337, clusterDomain: 'cluster.local' });
  if (!('injected' in r)) throw new Error(`not injected: ${JSON.stringify(r)}`);
  const proxy = r.injected.spec!.initContainers!.find((c) => c.name === PROXY_NAME)!;
  proxy.env = [...(proxy.env ?? []), { name: 'TRELLIS_DRAIN_SECONDS', value: '1' }];
  // Istio's threshold (30 failures 2 s apart) would take a minute to turn the pod unready.
  proxy.readinessProbe = { ...proxy.readinessProbe, failureThreshold: 2 };
  return r.injected;
}

const ready = (p: V1Pod): boolean => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const readPod = (name: string): Promise<V1Pod> => core.readNamespacedPod({ namespace: ns, name });

/** The OCI runtime spec containerd gave a container (what runc applied). */
function runtimeSpec(containerId: string): Promise<{ process: { user: { uid: number }; capabilities: Record<string, string[] | undefined>; noNewPrivileges?: boolean }; root: { readonly?: boolean } }> {
  return new Promise((resolve, reject) =>
    execFile('ctr', ['--address', containerdSocket, '--namespace', 'k8s.io', 'containers', 'info', containerId.replace(/^containerd:\/\//, '')], { maxBuffer: 16 << 20 }, (err, stdout) =>
      err ? reject(err) : resolve((JSON.parse(stdout) as { Spec: never }).Spec),
    ),
  );
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'istio-ca-root-cert' }, data: { 'root-cert.pem': (await testMeshCa()).rootPem } } });
  await core.createNamespacedPod({ namespace: ns, body: meshedPod('meshed') });
  await core.createNamespacedPod({ namespace: ns, body: clientPod(ns, 'neighbour') as V1Pod });
  await waitFor('both pods ready', async () => ready(await readPod('meshed')) && ready(await readPod('neighbour')), 180_000);
});
afterAll(() => core.deleteNamespace({ name: ns }).catch(() => undefined));

test('the proxy runs as UID 1337 with no capability, on a read-only root filesystem', async () => {
  const proxy = await podExec(`${ns}/meshed`, ['sh', '-c', 'id -u; id -g; grep -E "^Cap(Prm|Eff|Amb)" /proc/self/status; touch /written-by-proxy 2>&1; echo touch=$?'], 60_000, PROXY_NAME);
  expect(proxy.stdout).toMatch(/^1337\n1337\n/);
  expect(proxy.stdout).toMatch(/CapPrm:\s+0000000000000000/);
  expect(proxy.stdout).toMatch(/CapEff:\s+0000000000000000/);
  expect(proxy.stdout).toContain('Read-only file system');
  expect(proxy.stdout).toContain('touch=1');
  // And the runtime was told so (not only the image's USER).
  const pod = await readPod('meshed');
  const spec = await runtimeSpec(pod.status!.initContainerStatuses!.find((c) => c.name === PROXY_NAME)!.containerID!);
  expect(spec.process.user.uid).toBe(1337);
  expect(spec.root.readonly).toBe(true);
  expect(spec.process.capabilities.effective ?? []).toEqual([]);
  expect(spec.process.noNewPrivileges).toBe(true);
});

test('the iptables init container held NET_ADMIN and NET_RAW and nothing else', async () => {
  const pod = await readPod('meshed');
  const init = pod.status!.initContainerStatuses!.find((c) => c.name === 'trellis-init')!;
  expect(init.state?.terminated?.exitCode).toBe(0);
  const spec = await runtimeSpec(init.containerID!);
  expect(spec.process.user.uid).toBe(0);
  for (const set of ['bounding', 'effective', 'permitted']) expect([...(spec.process.capabilities[set] ?? [])].sort()).toEqual(['CAP_NET_ADMIN', 'CAP_NET_RAW']);
  expect(spec.process.capabilities.inheritable ?? []).toEqual([]);
  expect(spec.process.capabilities.ambient ?? []).toEqual([]);
});

test("an app container sees neither the node's files nor another pod's processes", async () => {
  const admin = path.join(root, '.devcluster/kubeconfig');
  expect(fs.existsSync(admin)).toBe(true);
  // The node's admin credentials and the checkout are not in the container's filesystem.
  const files = await podExec(`${ns}/meshed`, ['sh', '-c', `cat ${admin} 2>&1; echo cat=$?; ls ${root} 2>&1; echo ls=$?`]);
  expect(files.stdout).toContain('cat=1');
  expect(files.stdout).toContain('ls=2');
  expect(files.stdout).not.toContain('client-key');
  // Its own PID namespace: the neighbour's `sleep infinity` is not among its processes.
  const ps = await podExec(`${ns}/meshed`, ['sh', '-c', 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " "']);
  expect(ps.stdout).toContain('app-start');
  expect(ps.stdout).not.toContain('infinity');
  const neighbour = await podExec(`${ns}/neighbour`, ['sh', '-c', 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " "']);
  expect(neighbour.stdout).toContain('infinity');
  expect(neighbour.stdout).not.toContain('app-start');
});

test('the native sidecar starts before the app', async () => {
  // The runtime's own timestamps (nanoseconds) of each container's log lines: the pod status's
  // startedAt has whole seconds only, and both may start within one.
  const uid = (await readPod('meshed')).metadata!.uid!;
  const firstLine = (container: string, match: (line: string) => boolean): number => {
    const lines = fs.readFileSync(path.join(root, '.devcluster/pod-logs', `${ns}_meshed_${uid}`, container, '0.log'), 'utf8').split('\n');
    const line = lines.find((l) => l !== '' && match(criLines(l)));
    if (!line) throw new Error(`no matching line of ${container} in:\n${lines.join('\n')}`);
    return Date.parse(line.split(' ')[0]);
  };
  // The kubelet starts the app only once the sidecar's startup probe passed (Envoy up).
  expect(firstLine(PROXY_NAME, (l) => l.includes('"starting envoy"'))).toBeLessThan(firstLine('app', (l) => l.startsWith('app-start')));
});

test("the pod is Ready only while the proxy's readiness passes", async () => {
  // Envoy's admin (POST only): a failed health check makes /ready, what 15021 answers from, 503.
  expect((await fetchInPod(`${ns}/meshed`, 'http://127.0.0.1:15000/healthcheck/fail', { method: 'POST' })).status).toBe(200);
  const notReady = await waitFor('the pod not Ready', async () => {
    const p = await readPod('meshed');
    return ready(p) ? undefined : p;
  });
  expect(notReady.status?.initContainerStatuses?.find((c) => c.name === PROXY_NAME)?.ready).toBe(false);
  expect(notReady.status?.containerStatuses?.find((c) => c.name === 'app')?.ready).toBe(true);
  expect((await fetchInPod(`${ns}/meshed`, 'http://127.0.0.1:15000/healthcheck/ok', { method: 'POST' })).status).toBe(200);
  await waitFor('the pod Ready again', async () => ready(await readPod('meshed')));
});

test('on deletion the app stops first and the sidecar drains after it has exited', async () => {
  const uid = (await readPod('meshed')).metadata!.uid!;
  const logDir = path.join(root, '.devcluster/pod-logs', `${ns}_meshed_${uid}`);
  // Opened before the deletion: the kubelet removes the files with the pod.
  const open = (container: string): number => fs.openSync(path.join(logDir, container, '0.log'), 'r');
  const [app, proxy] = [open('app'), open(PROXY_NAME)];
  await core.deleteNamespacedPod({ namespace: ns, name: 'meshed' });
  await waitFor('the pod gone', async () => !(await readPod('meshed').catch(() => undefined)), 60_000, 200);
  // Each CRI log line starts with the time the runtime read it.
  const [appLog, proxyLog] = [app, proxy].map((fd) => {
    const text = fs.readFileSync(fd, 'utf8').split('\n');
    fs.closeSync(fd);
    return text;
  });
  const timeOf = (lines: string[], match: (line: string) => boolean): number => {
    const line = lines.find((l) => match(criLines(l)));
    if (!line) throw new Error(`no matching line in:\n${lines.join('\n')}`);
    return Date.parse(line.split(' ')[0]);
  };
  const appTerm = timeOf(appLog, (l) => l.startsWith('app-term'));
  const appExit = timeOf(appLog, (l) => l.startsWith('app-exit'));
  const drain = timeOf(proxyLog, (l) => l.includes('"draining"'));
  expect(appExit - appTerm).toBeGreaterThanOrEqual(1500);
  expect(drain).toBeGreaterThanOrEqual(appExit);
});
