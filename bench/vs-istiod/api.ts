// The benchmark's side of the API server: it creates the objects, writes the changes (timing the
// API server's own answer), watches the VirtualServices like a control plane would (timing the
// watch event's arrival), and lists what a field manager wrote (to show what istiod left behind).
import { performance } from 'node:perf_hooks';
import { CustomObjectsApi, DiscoveryV1Api, Watch, type CoreV1Api, type KubeConfig, type KubernetesObject, type KubernetesObjectApi } from '@kubernetes/client-node';
import { endpointIp, endpointSlice, NAMESPACE, service, serviceName, virtualService } from './mesh.js';

const VS = { group: 'networking.istio.io', version: 'v1', plural: 'virtualservices' } as const;
export const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function inBatches<T>(items: T[], size: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

export class BenchApi {
  private readonly custom: CustomObjectsApi;
  private readonly discovery: DiscoveryV1Api;
  /** Arrival time of each marker's watch event. */
  readonly watched = new Map<string, number>();
  private abort: AbortController | undefined;

  constructor(
    private readonly kc: KubeConfig,
    private readonly core: CoreV1Api,
    private readonly objects: KubernetesObjectApi,
  ) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.discovery = kc.makeApiClient(DiscoveryV1Api);
  }

  async namespaceExists(name: string): Promise<boolean> {
    return this.core.readNamespace({ name }).then(
      () => true,
      () => false,
    );
  }

  /** Deletes a namespace and waits until it is gone. */
  async deleteNamespace(name: string, timeoutMs = 300_000): Promise<void> {
    if (!(await this.namespaceExists(name))) return;
    await this.core.deleteNamespace({ name }).catch(() => undefined);
    const deadline = Date.now() + timeoutMs;
    while (await this.namespaceExists(name)) {
      if (Date.now() > deadline) throw new Error(`namespace ${name} still there after ${timeoutMs} ms`);
      await sleep(1000);
    }
  }

  async createNamespace(name: string): Promise<void> {
    await this.core.createNamespace({ body: { metadata: { name, labels: { 'bench.trellis.io/vs-istiod': 'true' } } } });
  }

  /** S Services, their EndpointSlices (E endpoints each) and VirtualServices (with `marker(k)`) in the bench namespace. */
  async createMesh(services: number, marker: (k: number) => string, endpoints = 2): Promise<void> {
    const ks = Array.from({ length: services }, (_, k) => k);
    await inBatches(ks, 10, (k) => this.objects.create(service(k) as KubernetesObject));
    await inBatches(ks, 10, (k) => this.objects.create(endpointSlice(k, endpoints) as KubernetesObject));
    await inBatches(ks, 10, (k) => this.objects.create(virtualService(k, marker(k)) as KubernetesObject));
  }

  /** Sets VirtualService k's marker (one JSON patch); resolves with the API server's answer time in ms. */
  async setMarker(k: number, marker: string): Promise<number> {
    const t0 = now();
    await this.custom.patchNamespacedCustomObject({ ...VS, namespace: NAMESPACE, name: serviceName(k), body: [{ op: 'replace', path: '/spec/http/0/match/0/uri/prefix', value: `/${marker}/` }] });
    return now() - t0;
  }

  /** Moves service k's second endpoint to `ip` (one JSON patch of its EndpointSlice, as a pod replaced); resolves with the API server's answer time in ms. */
  async moveEndpoint(k: number, ip: string): Promise<number> {
    const t0 = now();
    await this.discovery.patchNamespacedEndpointSlice({ namespace: NAMESPACE, name: `${serviceName(k)}-bench`, body: [{ op: 'replace', path: '/endpoints/1/addresses/0', value: ip }] });
    return now() - t0;
  }

  /** Puts the second endpoint of each of `ks` back where endpointSlice placed it. */
  async resetEndpoints(ks: Iterable<number>): Promise<void> {
    await inBatches([...ks], 10, (k) => this.moveEndpoint(k, endpointIp(k, 1)));
  }

  async resetMarkers(ks: Iterable<number>, marker: (k: number) => string): Promise<void> {
    await inBatches([...ks], 10, (k) => this.setMarker(k, marker(k)));
  }

  /** Watches the bench namespace's VirtualServices, noting when each marker's event arrives. */
  async watchVirtualServices(): Promise<void> {
    const path = `/apis/${VS.group}/${VS.version}/namespaces/${NAMESPACE}/${VS.plural}`;
    const start = async (): Promise<void> => {
      this.abort = await new Watch(this.kc).watch(
        path,
        {},
        (_phase, obj: { spec?: { http?: { match?: { uri?: { prefix?: string } }[] }[] } }) => {
          const prefix = obj.spec?.http?.[0]?.match?.[0]?.uri?.prefix;
          if (prefix && !this.watched.has(prefix.slice(1, -1))) this.watched.set(prefix.slice(1, -1), now());
        },
        () => {
          if (this.abort) void start().catch(() => undefined); // the API server ended the watch: watch again
        },
      );
    };
    await start();
  }

  stopWatching(): void {
    const a = this.abort;
    this.abort = undefined;
    a?.abort();
  }

  /** Objects of the given kinds, anywhere, that `manager` wrote (from managedFields), as kind namespace/name. */
  async writtenBy(manager: string, kinds: readonly { apiVersion: string; kind: string }[]): Promise<string[]> {
    const out: string[] = [];
    for (const { apiVersion, kind } of kinds) {
      const list = await this.objects.list(apiVersion, kind).catch(() => ({ items: [] as KubernetesObject[] }));
      for (const o of list.items) {
        if ((o.metadata?.managedFields ?? []).some((f) => f.manager?.startsWith(manager))) out.push(`${kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`);
      }
    }
    return out;
  }
}

/** What istiod could write outside its own namespace, checked after its run. */
export const WRITABLE_KINDS = [
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'v1', kind: 'Secret' },
  { apiVersion: 'v1', kind: 'Namespace' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' },
  { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration' },
  { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration' },
  { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService' },
] as const;
