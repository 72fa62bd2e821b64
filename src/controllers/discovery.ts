// Service discovery: Services, EndpointSlices, Pods, Namespaces and kubernetes.io/tls Secrets
// from the API into the ServiceRegistry, each change reported with the hosts it touches.
import type { KubernetesObject, V1EndpointSlice, V1Namespace, V1Pod, V1Secret, V1Service } from '@kubernetes/client-node';
import { Informer } from '../kube/informer.js';
import type { Endpoint, RegistryChange, ServiceRegistry } from '../model/services.js';
import { parseExportToAnnotation } from '../model/visibility.js';
import type { Logger } from '../util/logger.js';
import type { KubeAccess } from '../kube/access.js';

export interface DiscoveryDeps {
  kc: KubeAccess;
  registry: ServiceRegistry;
  log: Logger;
  onChange: (c: RegistryChange) => void;
  /** A pod was deleted (or finished): its bound tokens must stop authenticating. */
  onPodGone?: (namespace: string, name: string, uid: string | undefined) => void;
  stallMs?: number;
}

const decode = (v: string | undefined): string | undefined => (v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8'));

export function serviceRecord(svc: V1Service): Parameters<ServiceRegistry['upsertService']>[0] {
  const md = svc.metadata ?? {};
  // No annotation means "the mesh-wide default", which the model applies (empty list).
  const exportTo = parseExportToAnnotation(md.annotations?.['networking.istio.io/exportTo']);
  return {
    namespace: md.namespace ?? '',
    name: md.name ?? '',
    // `None` stays: it is how the model knows a headless Service (resolution NONE).
    clusterIP: svc.spec?.clusterIP || undefined,
    ports: (svc.spec?.ports ?? []).map((p) => ({
      name: p.name ?? '',
      port: p.port,
      targetPort: (p.targetPort as number | string | undefined) ?? p.port,
      protocol: p.protocol ?? 'TCP',
      appProtocol: p.appProtocol,
    })),
    labels: md.labels ?? {},
    selector: svc.spec?.selector,
    exportTo,
  };
}

export function sliceEndpoints(slice: V1EndpointSlice): Endpoint[] {
  const ports: Record<string, number> = {};
  for (const p of slice.ports ?? []) if (p.port !== undefined) ports[p.name ?? ''] = p.port;
  return (slice.endpoints ?? []).flatMap((e) =>
    e.addresses.map((address) => ({
      address,
      // An endpoint with no ready condition counts as ready (the API's rule).
      ready: e.conditions?.ready !== false,
      ports,
      podName: e.targetRef?.kind === 'Pod' ? e.targetRef.name : undefined,
      zone: e.zone,
      region: undefined,
      labels: {},
    })),
  );
}

/** The keys of a Secret credentialName reads (Istio's two formats); no other key is kept. */
export const CREDENTIAL_KEYS = ['tls.crt', 'tls.key', 'ca.crt', 'cert', 'key', 'cacert'] as const;

/**
 * What the informer keeps of a Secret: its name and the credential keys. Any other Opaque
 * Secret (an application's passwords, the plug-in CA's key) is held as a name only.
 */
export function credentialFields(s: V1Secret): V1Secret {
  const data: Record<string, string> = {};
  for (const k of CREDENTIAL_KEYS) {
    const v = s.data?.[k];
    if (v !== undefined) data[k] = v;
  }
  const md = s.metadata ?? {};
  return { type: s.type, metadata: { name: md.name, namespace: md.namespace, resourceVersion: md.resourceVersion }, data };
}

/** What the informer keeps of a Pod: what the registry records (no spec beyond the service account, no managedFields). */
export function podFields(p: V1Pod): V1Pod {
  const md = p.metadata ?? {};
  return {
    metadata: { name: md.name, namespace: md.namespace, uid: md.uid, resourceVersion: md.resourceVersion, labels: md.labels },
    spec: { serviceAccountName: p.spec?.serviceAccountName, containers: [] },
    status: { podIP: p.status?.podIP, phase: p.status?.phase },
  };
}

/** The Secret types a credentialName may name. */
export const CREDENTIAL_SECRET_TYPES = ['kubernetes.io/tls', 'Opaque'] as const;

/**
 * What an added or updated object of each watched kind does to the registry: the informers'
 * handlers, and the way the golden translation cases load their Kubernetes objects.
 */
export const upsertDiscovered = {
  Service: (registry: ServiceRegistry, svc: V1Service): RegistryChange => registry.upsertService(serviceRecord(svc)),
  EndpointSlice: (registry: ServiceRegistry, s: V1EndpointSlice): RegistryChange | undefined => {
    const service = s.metadata?.labels?.['kubernetes.io/service-name'];
    return service ? registry.upsertSlice(s.metadata?.namespace ?? '', s.metadata?.name ?? '', service, sliceEndpoints(s)) : undefined;
  },
  Pod: (registry: ServiceRegistry, pod: V1Pod): RegistryChange => {
    const md = pod.metadata ?? {};
    return registry.upsertPod({ namespace: md.namespace ?? '', name: md.name ?? '', ip: pod.status?.podIP ?? '', labels: md.labels ?? {}, serviceAccount: pod.spec?.serviceAccountName ?? 'default' });
  },
  Namespace: (registry: ServiceRegistry, ns: V1Namespace): RegistryChange => registry.upsertNamespace(ns.metadata?.name ?? '', ns.metadata?.labels ?? {}),
  Secret: (registry: ServiceRegistry, s: V1Secret): RegistryChange | undefined => {
    const ns = s.metadata?.namespace ?? '';
    const name = s.metadata?.name ?? '';
    // credentialName accepts kubernetes.io/tls Secrets and generic ones with tls.crt/tls.key/
    // ca.crt or cert/key/cacert (Istio's formats); other Secrets are not kept.
    const d = s.data ?? {};
    const cert = decode(d['tls.crt'] ?? d.cert);
    const key = decode(d['tls.key'] ?? d.key);
    const ca = decode(d['ca.crt'] ?? d.cacert);
    if (!(cert && key) && !ca) return registry.deleteSecret(ns, name);
    return registry.upsertSecret({ namespace: ns, name, cert: cert && key ? cert : '', key: cert && key ? key : '', ca });
  },
};

export class DiscoveryController {
  private readonly informers: Informer<KubernetesObject>[] = [];

  constructor(deps: DiscoveryDeps) {
    const { kc, log, registry } = deps;
    const emit = (c: RegistryChange | undefined): void => {
      if (c) deps.onChange(c);
    };
    const add = <T extends KubernetesObject>(path: string, handle: (event: 'add' | 'update' | 'delete' | 'resync', obj: T) => void, fieldSelector?: string, transform?: (o: T) => T): void => {
      const inf = new Informer<T>({ kc, path, log, fieldSelector, stallMs: deps.stallMs, transform });
      inf.on((event, obj) => {
        if (event !== 'resync') handle(event, obj);
      });
      this.informers.push(inf as unknown as Informer<KubernetesObject>);
    };
    add<V1Service>('/api/v1/services', (ev, svc) => emit(ev === 'delete' ? registry.deleteService(svc.metadata?.namespace ?? '', svc.metadata?.name ?? '') : upsertDiscovered.Service(registry, svc)));
    add<V1EndpointSlice>('/apis/discovery.k8s.io/v1/endpointslices', (ev, s) =>
      emit(ev === 'delete' ? registry.deleteSlice(s.metadata?.namespace ?? '', s.metadata?.name ?? '') : upsertDiscovered.EndpointSlice(registry, s)),
    );
    add<V1Pod>('/api/v1/pods', (ev, pod) => {
      const md = pod.metadata ?? {};
      if (ev === 'delete' || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') {
        deps.onPodGone?.(md.namespace ?? '', md.name ?? '', md.uid);
        emit(registry.deletePod(md.namespace ?? '', md.name ?? ''));
        return;
      }
      emit(upsertDiscovered.Pod(registry, pod));
    }, undefined, podFields);
    add<V1Namespace>('/api/v1/namespaces', (ev, ns) => emit(ev === 'delete' ? registry.deleteNamespace(ns.metadata?.name ?? '') : upsertDiscovered.Namespace(registry, ns)));
    // Only the Secret types credentialName can name (kubernetes.io/tls, and Istio's generic
    // format in Opaque Secrets), each watched with a field selector on its type: service account
    // tokens, Helm releases and the mesh CA's own Secrets never enter this process's memory here.
    const onSecret = (ev: 'add' | 'update' | 'delete' | 'resync', s: V1Secret): void =>
      emit(ev === 'delete' ? registry.deleteSecret(s.metadata?.namespace ?? '', s.metadata?.name ?? '') : upsertDiscovered.Secret(registry, s));
    for (const type of CREDENTIAL_SECRET_TYPES) add<V1Secret>('/api/v1/secrets', onSecret, `type=${type}`, credentialFields);
  }

  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
  }

  stop(): void {
    for (const i of this.informers) i.stop();
  }
}
