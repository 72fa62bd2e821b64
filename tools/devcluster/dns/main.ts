// The devcluster's cluster DNS feed: watches Services and EndpointSlices and keeps dnsmasq's
// hosts file (<state>/dns/hosts) equal to their records, as CoreDNS's kubernetes plugin would
// answer. The kubelet points pods at dnsmasq (clusterDNS); this is all it needs to know.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, DiscoveryV1Api, KubeConfig, makeInformer, type Informer, type KubernetesObject, type V1EndpointSlice, type V1Service } from '@kubernetes/client-node';
import { hostsFile, publishHosts } from './hosts.js';

const { values } = parseArgs({ options: { state: { type: 'string' }, kubeconfig: { type: 'string' }, domain: { type: 'string' } } });
const state = path.resolve(values.state ?? '.devcluster');
const domain = values.domain ?? 'cluster.local';
const kc = new KubeConfig();
kc.loadFromFile(values.kubeconfig ?? path.join(state, 'kubeconfig'));
const core = kc.makeApiClient(CoreV1Api);
const discovery = kc.makeApiClient(DiscoveryV1Api);
const line = (msg: string): boolean => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);

function keep<T extends KubernetesObject>(name: string, inf: Informer<T>): void {
  // The informer stops on a watch error (a 410 Gone included); start it again to relist.
  inf.on('error', (err: unknown) => {
    line(`${name} informer: ${String(err)}; restarting`);
    setTimeout(() => void inf.start().catch(() => undefined), 1000);
  });
}

const services = makeInformer<V1Service>(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
const slices = makeInformer<V1EndpointSlice>(kc, '/apis/discovery.k8s.io/v1/endpointslices', () => discovery.listEndpointSliceForAllNamespaces());
keep('services', services);
keep('endpointslices', slices);

// Events come in bursts (a namespace of Services at once): one write per 50 ms at most.
let timer: NodeJS.Timeout | undefined;
function refresh(): void {
  if (timer) return;
  timer = setTimeout(() => {
    timer = undefined;
    publishHosts(path.join(state, 'dns', 'hosts'), hostsFile([...services.list()], [...slices.list()], domain), path.join(state, 'run', 'dnsmasq.pid'));
  }, 50);
}
for (const inf of [services, slices] as Informer<KubernetesObject>[]) for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, refresh);
await services.start();
await slices.start();
refresh();
line('cluster DNS feed running');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
