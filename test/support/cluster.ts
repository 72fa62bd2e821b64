// Test helpers for the real cluster the suite runs against: the devcluster locally, or any
// cluster a KUBECONFIG names (kind in GitHub Actions).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, DiscoveryV1Api, KubeConfig, KubernetesObjectApi, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import { injectPod, PROXY_NAME } from '../../src/webhooks/inject.js';
import { waitFor as pollUntil } from './envoy.js';

/** The repo root, from the sources (jest) or from dist/ (benchmarks). */
export const root = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'tools/devcluster/network.env')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();
export const devcluster = path.join(root, 'tools/devcluster/devcluster');
export const kubeconfigPath = process.env.KUBECONFIG ?? path.join(root, '.devcluster/kubeconfig');

/** A version pinned in tools/devcluster/versions.env (`KEY=value` lines), e.g. `KUBE_VERSION`. */
export function pinnedVersion(key: string): string {
  const versions = fs.readFileSync(path.join(root, 'tools/devcluster/versions.env'), 'utf8');
  const m = new RegExp(`^${key}=(\\S+)`, 'm').exec(versions);
  if (!m) throw new Error(`${key} is not in tools/devcluster/versions.env`);
  return m[1];
}

/**
 * The kubectl the devcluster setup built, matching the pinned Kubernetes version; elsewhere (kind
 * in GitHub Actions) $KUBECTL or the kubectl on PATH.
 */
export function kubectlPath(): string {
  const built = path.join(root, `.devcluster/cache/kubernetes-${pinnedVersion('KUBE_VERSION')}/kubectl`);
  return process.env.KUBECTL ?? (fs.existsSync(built) ? built : 'kubectl');
}

/**
 * The tag of the images the cluster runs: what `make images` built (IMAGE_TAG, default dev),
 * imported into the devcluster's node (or loaded into kind). Never `latest`: its default pull
 * policy is Always, and no registry holds these images.
 */
export const IMAGE_TAG = process.env.IMAGE_TAG ?? 'dev';
export const ECHO_IMAGE = `trellis/echo:${IMAGE_TAG}`;
export const PROXY_IMAGE = `trellis/proxy:${IMAGE_TAG}`;

export function clusterAvailable(): boolean {
  return fs.existsSync(kubeconfigPath);
}

export function kube(): { kc: KubeConfig; core: CoreV1Api; apps: AppsV1Api; discovery: DiscoveryV1Api; objects: KubernetesObjectApi } {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
    objects: KubernetesObjectApi.makeApiClient(kc),
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; never rejects (the exit code is in the result). */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `kubectl exec` of argv in a container of `ns/pod` (by default kubectl's: the first app container). */
export function podExec(pod: string, argv: string[], timeoutMs = 60_000, container?: string): Promise<RunResult> {
  const [namespace, name] = pod.split('/');
  return run(kubectlPath(), ['--kubeconfig', kubeconfigPath, 'exec', '--namespace', namespace, name, ...(container ? ['-c', container] : []), '--', ...argv], { timeoutMs });
}

export interface EchoReply {
  status?: number;
  pod?: string;
  error?: string;
  headers?: Record<string, string>;
  body?: { pod?: string; labels?: Record<string, string>; headers?: Record<string, string>; path?: string; host?: string };
}

/** Sends `count` requests from inside a pod with the echo image's client. */
export async function echoFrom(pod: string, url: string, count = 1, headers: string[] = [], extra: string[] = []): Promise<EchoReply[]> {
  const args = ['echo-client', url, '-n', String(count), ...headers.flatMap((h) => ['-H', h]), ...extra];
  const res = await podExec(pod, args, 30_000 + count * 2_000);
  return res.stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as EchoReply);
}

/** waitFor with the cluster's patience: a minute, polling every 250 ms. */
export function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  return pollUntil(what, fn, timeoutMs, everyMs);
}

export async function applyAll(objects: KubernetesObject[]): Promise<void> {
  const { objects: api } = kube();
  for (const o of objects) await api.create(o);
}

const SECURITY_KINDS = new Set(['PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication']);

function istioRef(kind: string): { group: string; version: string; plural: string } {
  const lower = kind.toLowerCase();
  // policy → policies, but gateway → gateways
  const plural = /[^aeiou]y$/.test(lower) ? `${lower.slice(0, -1)}ies` : `${lower}s`;
  const group = kind === 'Telemetry' ? 'telemetry.istio.io' : SECURITY_KINDS.has(kind) ? 'security.istio.io' : 'networking.istio.io';
  return { group, version: 'v1', plural: kind === 'Telemetry' ? 'telemetries' : plural };
}

/** Creates an Istio v1 object (ServiceEntry, VirtualService, DestinationRule, PeerAuthentication, ...). */
export async function createIstioObject(ns: string, kind: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const ref = istioRef(kind);
  await kube().kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...ref, namespace: ns, body: { apiVersion: `${ref.group}/v1`, kind, metadata: { name }, spec } });
}

/**
 * Creates the object, or replaces the spec of the one that exists (as `kubectl apply` would).
 * The control plane writes the object's status (rollout counts) at any moment, which moves its
 * resourceVersion between our read and our replace; a conflict is read again and retried, as
 * client-go's RetryOnConflict does.
 */
export async function applyIstioObject(ns: string, kind: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const ref = istioRef(kind);
  const api = kube().kc.makeApiClient(CustomObjectsApi);
  for (let attempt = 1; ; attempt++) {
    const current = (await api.getNamespacedCustomObject({ ...ref, namespace: ns, name }).catch(() => undefined)) as { metadata?: { resourceVersion?: string } } | undefined;
    if (!current) return createIstioObject(ns, kind, name, spec);
    try {
      await api.replaceNamespacedCustomObject({ ...ref, namespace: ns, name, body: { apiVersion: `${ref.group}/v1`, kind, metadata: { name, resourceVersion: current.metadata?.resourceVersion }, spec } });
      return;
    } catch (err) {
      if ((err as { code?: number }).code !== 409 || attempt >= 10) throw err;
    }
  }
}

/** Deletes an Istio object if it exists. */
export async function deleteIstioObject(ns: string, kind: string, name: string): Promise<void> {
  await kube().kc.makeApiClient(CustomObjectsApi).deleteNamespacedCustomObject({ ...istioRef(kind), namespace: ns, name }).catch(() => undefined);
}

/** A unique namespace name for one test file. */
export function testNamespace(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`;
}

/**
 * An echo Deployment. `tlsSecret` names a kubernetes.io/tls Secret: the echo then also serves
 * HTTPS on 8443 with that certificate (mounted at /etc/tls).
 */
export function echoDeployment(ns: string, name: string, replicas: number, labels: Record<string, string> = {}, extra: { env?: { name: string; value: string }[]; tlsSecret?: string } = {}): KubernetesObject {
  const podLabels = { app: name, ...labels };
  const tls = extra.tlsSecret
    ? {
        env: [
          { name: 'ECHO_TLS_PORT', value: '8443' },
          { name: 'ECHO_TLS_CERT', value: '/etc/tls/tls.crt' },
          { name: 'ECHO_TLS_KEY', value: '/etc/tls/tls.key' },
        ],
        mounts: [{ name: 'tls', mountPath: '/etc/tls', readOnly: true }],
        volumes: [{ name: 'tls', secret: { secretName: extra.tlsSecret } }],
      }
    : { env: [], mounts: [], volumes: [] };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: podLabels },
      template: {
        metadata: { labels: podLabels },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: 'echo',
              image: ECHO_IMAGE,
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                ...tls.env,
                ...(extra.env ?? []),
              ],
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 },
              volumeMounts: [{ name: 'podinfo', mountPath: '/etc/podinfo' }, ...tls.mounts],
            },
          ],
          volumes: [{ name: 'podinfo', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } }, ...tls.volumes],
        },
      },
    },
  } as KubernetesObject;
}

export function clientPod(ns: string, name = 'client'): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'client', image: ECHO_IMAGE, command: ['sleep', 'infinity'] }] },
  } as KubernetesObject;
}

/** Creates the client pod with a sidecar pointed at `discoveryAddress` (the webhook's own injection code). */
export async function createInjectedClient(ns: string, discoveryAddress: string): Promise<void> {
  const injected = injectPod(clientPod(ns) as V1Pod, { proxyImage: PROXY_IMAGE, discoveryAddress, proxyUid: 1337, clusterDomain: 'cluster.local' });
  if (!('injected' in injected)) throw new Error('not injected');
  await kube().core.createNamespacedPod({ namespace: ns, body: injected.injected });
}

/** The first pod labelled app=<app> once it is Ready. */
export function readyPodOf(ns: string, app: string, timeoutMs = 60_000): Promise<V1Pod> {
  const ready = (p: V1Pod): boolean => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  return waitFor(`a ready pod of ${ns}/${app}`, async () => {
    const [p] = (await kube().core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` })).items;
    return p && ready(p) ? p : undefined;
  }, timeoutMs);
}

/**
 * A pod that runs only the Trellis proxy (a gateway, or the agent on its own): the container
 * and volumes are the ones the injector adds to meshed pods (src/webhooks/inject.ts), run as
 * the pod's main container, with `env` set on top of the injected environment.
 */
export function proxyPod(o: { name: string; namespace: string; labels: Record<string, string>; discoveryAddress: string; env?: { name: string; value: string }[]; terminationGracePeriodSeconds?: number }): V1Pod {
  const result = injectPod(
    { metadata: { name: o.name, namespace: o.namespace, labels: o.labels }, spec: { containers: [{ name: 'placeholder', image: ECHO_IMAGE }] } },
    { proxyImage: PROXY_IMAGE, discoveryAddress: o.discoveryAddress, proxyUid: 1337, clusterDomain: 'cluster.local' },
  );
  if (!('injected' in result)) throw new Error(`the injector did not inject the proxy pod: ${JSON.stringify(result)}`);
  const proxy = result.injected.spec!.initContainers!.find((c) => c.name === PROXY_NAME)!;
  delete proxy.restartPolicy; // a main container here, not a native sidecar
  const overridden = new Set((o.env ?? []).map((e) => e.name));
  proxy.env = [...(proxy.env ?? []).filter((e) => !overridden.has(e.name)), ...(o.env ?? [])];
  return {
    metadata: { name: o.name, namespace: o.namespace, labels: o.labels },
    spec: { terminationGracePeriodSeconds: o.terminationGracePeriodSeconds ?? 2, containers: [proxy], volumes: result.injected.spec!.volumes },
  };
}

/**
 * A namespace labelled for injection with the echo Deployment behind the Service `echo` (port
 * 8080) and the client pod, both Ready (their sidecars with them).
 */
export async function meshedEchoAndClient(ns: string): Promise<void> {
  const { core } = kube();
  await core.createNamespace({ body: { metadata: { name: ns, labels: { 'trellis-injection': 'enabled' } } } });
  await applyAll([
    echoDeployment(ns, 'echo', 1),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: ns }, spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 8080 }] } } as KubernetesObject,
    clientPod(ns),
  ]);
  const ready = (p: V1Pod): boolean => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  await waitFor('the echo and client pods ready', async () => {
    const pods = (await core.listNamespacedPod({ namespace: ns })).items;
    return pods.length === 2 && pods.every(ready);
  }, 180_000);
}

/**
 * A GET from inside a pod's container with Node's own fetch: the proxy image has Node but not
 * the echo client. The body is parsed when it is JSON.
 */
export async function fetchInPod(pod: string, url: string, opts: { container?: string; method?: string } = {}): Promise<EchoReply & { body?: unknown }> {
  const script = `fetch(process.argv[1], { method: process.argv[2] }).then(async (r) => { const t = await r.text(); let b = t; try { b = JSON.parse(t); } catch {} console.log(JSON.stringify({ status: r.status, body: b })); }, (e) => console.log(JSON.stringify({ error: String(e.cause ?? e) })))`;
  const r = await podExec(pod, ['node', '-e', script, url, opts.method ?? 'GET'], 60_000, opts.container ?? PROXY_NAME);
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  return line ? (JSON.parse(line) as EchoReply) : { error: `exec failed (${r.code}): ${r.stderr.trim()}` };
}

/** A page served on loopback inside a pod's proxy container (Envoy's admin on 15000, the agent's 15020), as text. */
export async function proxyPage(pod: string, url: string): Promise<string> {
  const body = (await fetchInPod(pod, url)).body;
  return typeof body === 'string' ? body : JSON.stringify(body ?? '');
}

/**
 * The PIDs of this machine's processes in the pod of `uid`: the devcluster's kubelet puts each
 * pod's containers in the cgroup pod<uid> (cgroupfs driver). Devcluster only.
 */
export function podProcesses(uid: string): string[] {
  return fs.readdirSync('/proc').filter((pid) => {
    try {
      return /^\d+$/.test(pid) && fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`/pod${uid}/`);
    } catch {
      return false; // gone meanwhile
    }
  });
}

/**
 * Runs a command of this machine in a pod's network namespace, as the node's root (the way to
 * read the pod's iptables: its containers hold no NET_ADMIN). Devcluster only.
 */
export async function inPodNetwork(pod: string, argv: string[]): Promise<RunResult> {
  const [namespace, name] = pod.split('/');
  const uid = (await kube().core.readNamespacedPod({ namespace, name })).metadata?.uid ?? '';
  const [pid] = podProcesses(uid);
  if (!pid) throw new Error(`no process of pod ${pod} (uid ${uid}) on this machine`);
  return run('nsenter', [`--net=/proc/${pid}/ns/net`, '--', ...argv]);
}

/**
 * What a container of a pod has written, from the devcluster kubelet's log files
 * (`.devcluster/pod-logs/<ns>_<pod>_<uid>/<container>/<restart>.log`, CRI format: time, stream,
 * tag, then the line), so a pod's last lines can be read after the API server forgot the pod.
 * Empty when the pod has no log yet.
 */
export function nodeContainerLog(namespace: string, pod: string, container: string): string {
  const dir = path.join(root, '.devcluster/pod-logs');
  const podDir = fs.existsSync(dir) ? fs.readdirSync(dir).find((d) => d.startsWith(`${namespace}_${pod}_`)) : undefined;
  if (!podDir) return '';
  const logs = path.join(dir, podDir, container);
  if (!fs.existsSync(logs)) return '';
  const files = fs.readdirSync(logs).filter((f) => /^\d+\.log$/.test(f)).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  return files
    .map((f) => criLines(fs.readFileSync(path.join(logs, f), 'utf8')))
    .join('');
}

/** The lines of a CRI log file without their time, stream and tag. */
export function criLines(text: string): string {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => `${l.split(' ').slice(3).join(' ')}\n`)
    .join('');
}
