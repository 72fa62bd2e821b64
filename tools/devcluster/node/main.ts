// The devcluster's node agent: registers the node, binds pending pods to it (the scheduler's
// job on a one-node cluster), runs them (the kubelet's job) and feeds cluster DNS.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, DiscoveryV1Api, KubeConfig, makeInformer, type Informer, type KubernetesObject, type V1EndpointSlice, type V1Pod, type V1Service } from '@kubernetes/client-node';
import { hostsFile, publishHosts } from './dns.js';
import { ImageTable } from './images.js';
import { ApiError, Rest } from '../../../src/kube/rest.js';
import { makeLog } from './log.js';
import { heartbeat, registerNode } from './node-object.js';
import { PodWorker, type NodeContext } from './pod.js';
import { deleteNamespace, Ipam, staleNamespaces } from './podnet.js';
import { loadSettings } from './settings.js';

const { values } = parseArgs({ options: { state: { type: 'string' }, kubeconfig: { type: 'string' }, verbose: { type: 'boolean' } } });
const state = path.resolve(values.state ?? '.devcluster');
const log = makeLog(values.verbose ?? false);
const settings = loadSettings();
const kc = new KubeConfig();
kc.loadFromFile(values.kubeconfig ?? path.join(state, 'kubeconfig'));
const api = new Rest(kc);
const core = kc.makeApiClient(CoreV1Api);
const discovery = kc.makeApiClient(DiscoveryV1Api);

const podsDir = path.join(state, 'node', 'pods');
fs.mkdirSync(podsDir, { recursive: true });
for (const ns of await staleNamespaces(settings)) await deleteNamespace(settings, ns);

await registerNode(api, settings);
setInterval(() => void heartbeat(api, settings).catch((err: Error) => log.warn(`heartbeat: ${err.message}`)), 10_000);
log.info(`node ${settings.nodeName} registered (pods ${settings.podCidr})`);

function keep<T extends KubernetesObject>(name: string, inf: Informer<T>): void {
  // The informer stops on a watch error (a 410 Gone included); start it again to relist.
  inf.on('error', (err: unknown) => {
    log.debug(`${name} informer: ${String(err)}; restarting`);
    setTimeout(() => void inf.start().catch(() => undefined), 1000);
  });
}

const services = makeInformer<V1Service>(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
const slices = makeInformer<V1EndpointSlice>(kc, '/apis/discovery.k8s.io/v1/endpointslices', () => discovery.listEndpointSliceForAllNamespaces());
keep('services', services);
keep('endpointslices', slices);

let dnsTimer: NodeJS.Timeout | undefined;
function refreshDns(): void {
  if (dnsTimer) return;
  dnsTimer = setTimeout(() => {
    dnsTimer = undefined;
    const content = hostsFile([...services.list()], [...slices.list()], settings.clusterDomain);
    if (publishHosts(path.join(state, 'dns', 'hosts'), content, path.join(state, 'run', 'dnsmasq.pid'))) log.debug('dns hosts updated');
  }, 50);
}
for (const inf of [services, slices] as Informer<KubernetesObject>[]) for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, refreshDns);

const ctx: NodeContext = {
  api,
  settings,
  images: new ImageTable(settings.root),
  ipam: new Ipam(settings.podCidr),
  podsDir,
  services: () => [...services.list()],
  log,
};
const workers = new Map<string, PodWorker>();
const binding = new Set<string>();

async function bind(pod: V1Pod): Promise<void> {
  const uid = pod.metadata?.uid ?? '';
  if (binding.has(uid)) return;
  binding.add(uid);
  try {
    await api.post(`/api/v1/namespaces/${pod.metadata?.namespace}/pods/${pod.metadata?.name}/binding`, {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: pod.metadata?.name, uid },
      target: { apiVersion: 'v1', kind: 'Node', name: settings.nodeName },
    });
  } catch (err) {
    if (!(err instanceof ApiError && (err.status === 409 || err.status === 404))) log.warn(`bind ${pod.metadata?.namespace}/${pod.metadata?.name}: ${(err as Error).message}`);
  } finally {
    setTimeout(() => binding.delete(uid), 5000);
  }
}

function onPod(pod: V1Pod): void {
  const uid = pod.metadata?.uid ?? '';
  const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  if (!pod.spec?.nodeName) {
    const scheduler = pod.spec?.schedulerName ?? 'default-scheduler';
    if (scheduler === 'default-scheduler' && !pod.metadata?.deletionTimestamp) void bind(pod);
    return;
  }
  if (pod.spec.nodeName !== settings.nodeName) return;
  let worker = workers.get(uid);
  if (pod.metadata?.deletionTimestamp) {
    const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    if (!worker) {
      void api.delete(`/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`, { gracePeriodSeconds: 0, preconditions: { uid } }).catch(() => undefined);
      return;
    }
    void worker.terminate(grace, true).finally(() => workers.delete(uid));
    return;
  }
  if (worker) {
    worker.update(pod);
    return;
  }
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return;
  worker = new PodWorker(ctx, pod);
  workers.set(uid, worker);
  log.info(`pod ${key}: starting`);
  void worker.run().catch((err: Error) => log.warn(`pod ${key}: ${err.stack ?? err.message}`));
}

function onPodDeleted(pod: V1Pod): void {
  const uid = pod.metadata?.uid ?? '';
  const worker = workers.get(uid);
  if (worker) void worker.terminate(0, false).finally(() => workers.delete(uid));
}

const pods = makeInformer<V1Pod>(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
keep('pods', pods);
pods.on('add', onPod);
pods.on('update', onPod);
pods.on('delete', onPodDeleted);

await services.start();
await slices.start();
await pods.start();
log.info('node agent running');

async function shutdown(): Promise<void> {
  log.info('stopping: terminating pods');
  await Promise.all([...workers.values()].map((w) => w.terminate(5, false)));
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
