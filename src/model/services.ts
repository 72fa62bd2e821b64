// The service registry: Kubernetes Services, their endpoints from EndpointSlices, the pods
// behind them, namespaces and TLS secrets, as plain records. Pure: updates in, changes out.
import { labelsMatch } from './labels.js';

export interface ServicePort {
  name: string;
  port: number;
  targetPort: number | string;
  protocol: string; // TCP, UDP, SCTP
  appProtocol?: string;
}

export interface ServiceRecord {
  namespace: string;
  name: string;
  /** The FQDN: <name>.<namespace>.svc.<domain> */
  hostname: string;
  clusterIP: string | undefined;
  ports: ServicePort[];
  labels: Record<string, string>;
  selector: Record<string, string> | undefined;
  exportTo: string[];
}

export interface Endpoint {
  address: string;
  ready: boolean;
  /** Port name → port number, from the EndpointSlice. */
  ports: Record<string, number>;
  podName?: string;
  zone?: string;
  region?: string;
  labels: Record<string, string>;
  /** The pod's service account (from the pod behind the address). */
  serviceAccount?: string;
}

export interface PodRecord {
  namespace: string;
  name: string;
  ip: string;
  labels: Record<string, string>;
  serviceAccount: string;
}

export interface TlsSecret {
  namespace: string;
  name: string;
  cert: string;
  key: string;
  ca?: string;
}

/** One change to the registry, with the hosts it touches and whether only endpoints moved. */
export interface RegistryChange {
  kind: 'Service' | 'EndpointSlice' | 'Pod' | 'Namespace' | 'Secret';
  namespace: string;
  name: string;
  hosts: string[];
  endpointsOnly: boolean;
}

export class ServiceRegistry {
  private readonly services = new Map<string, ServiceRecord>(); // ns/name
  private readonly slices = new Map<string, { service: string; endpoints: Endpoint[] }>(); // ns/slice → service key
  /** ns/service → the keys of its slices: endpoints() is called per service, and a mesh has many. */
  private readonly slicesOf = new Map<string, Set<string>>();
  private readonly pods = new Map<string, PodRecord>(); // ip → pod
  private readonly podsByName = new Map<string, PodRecord>(); // ns/name → pod, with or without an IP
  private readonly namespaces = new Map<string, Record<string, string>>();
  private readonly secrets = new Map<string, TlsSecret>();

  constructor(readonly domain = 'cluster.local') {}

  hostname(namespace: string, name: string): string {
    return `${name}.${namespace}.svc.${this.domain}`;
  }

  upsertService(svc: Omit<ServiceRecord, 'hostname'>): RegistryChange {
    const rec = { ...svc, hostname: this.hostname(svc.namespace, svc.name) };
    this.services.set(`${svc.namespace}/${svc.name}`, rec);
    return { kind: 'Service', namespace: svc.namespace, name: svc.name, hosts: [rec.hostname], endpointsOnly: false };
  }

  deleteService(namespace: string, name: string): RegistryChange | undefined {
    if (!this.services.delete(`${namespace}/${name}`)) return undefined;
    return { kind: 'Service', namespace, name, hosts: [this.hostname(namespace, name)], endpointsOnly: false };
  }

  upsertSlice(namespace: string, slice: string, service: string, endpoints: Endpoint[]): RegistryChange {
    const key = `${namespace}/${slice}`;
    const old = this.slices.get(key);
    if (old && old.service !== service) this.unindexSlice(namespace, old.service, key);
    this.slices.set(key, { service, endpoints });
    const owner = `${namespace}/${service}`;
    let keys = this.slicesOf.get(owner);
    if (!keys) this.slicesOf.set(owner, (keys = new Set()));
    keys.add(key);
    return { kind: 'EndpointSlice', namespace, name: slice, hosts: [this.hostname(namespace, service)], endpointsOnly: true };
  }

  deleteSlice(namespace: string, slice: string): RegistryChange | undefined {
    const old = this.slices.get(`${namespace}/${slice}`);
    if (!old) return undefined;
    this.slices.delete(`${namespace}/${slice}`);
    this.unindexSlice(namespace, old.service, `${namespace}/${slice}`);
    return { kind: 'EndpointSlice', namespace, name: slice, hosts: [this.hostname(namespace, old.service)], endpointsOnly: true };
  }

  private unindexSlice(namespace: string, service: string, key: string): void {
    const keys = this.slicesOf.get(`${namespace}/${service}`);
    keys?.delete(key);
    if (keys?.size === 0) this.slicesOf.delete(`${namespace}/${service}`);
  }

  upsertPod(pod: PodRecord): RegistryChange {
    const key = `${pod.namespace}/${pod.name}`;
    const old = this.podsByName.get(key);
    if (old?.ip && old.ip !== pod.ip && this.pods.get(old.ip) === old) this.pods.delete(old.ip);
    this.podsByName.set(key, pod);
    if (pod.ip) this.pods.set(pod.ip, pod);
    return { kind: 'Pod', namespace: pod.namespace, name: pod.name, hosts: this.hostsOfPod(pod), endpointsOnly: true };
  }

  deletePod(namespace: string, name: string): RegistryChange | undefined {
    const key = `${namespace}/${name}`;
    const p = this.podsByName.get(key);
    if (!p) return undefined;
    this.podsByName.delete(key);
    if (p.ip && this.pods.get(p.ip) === p) this.pods.delete(p.ip);
    return p.ip ? { kind: 'Pod', namespace, name, hosts: this.hostsOfPod(p), endpointsOnly: true } : undefined;
  }

  /** A pod by name, if known (with or without an IP yet). */
  podByName(namespace: string, name: string): PodRecord | undefined {
    return this.podsByName.get(`${namespace}/${name}`);
  }

  /** The service account a pod runs as, if the pod is known. */
  podServiceAccount(namespace: string, name: string): string | undefined {
    return this.podsByName.get(`${namespace}/${name}`)?.serviceAccount;
  }

  upsertNamespace(name: string, labels: Record<string, string>): RegistryChange {
    this.namespaces.set(name, labels);
    return { kind: 'Namespace', namespace: name, name, hosts: [], endpointsOnly: false };
  }

  deleteNamespace(name: string): RegistryChange | undefined {
    if (!this.namespaces.delete(name)) return undefined;
    return { kind: 'Namespace', namespace: name, name, hosts: [], endpointsOnly: false };
  }

  upsertSecret(s: TlsSecret): RegistryChange {
    this.secrets.set(`${s.namespace}/${s.name}`, s);
    return { kind: 'Secret', namespace: s.namespace, name: s.name, hosts: [], endpointsOnly: false };
  }

  deleteSecret(namespace: string, name: string): RegistryChange | undefined {
    if (!this.secrets.delete(`${namespace}/${name}`)) return undefined;
    return { kind: 'Secret', namespace, name, hosts: [], endpointsOnly: false };
  }

  service(namespace: string, name: string): ServiceRecord | undefined {
    return this.services.get(`${namespace}/${name}`);
  }

  serviceByHost(host: string): ServiceRecord | undefined {
    const m = new RegExp(`^([^.]+)\\.([^.]+)\\.svc\\.${this.domain.replace(/\./g, '\\.')}$`).exec(host);
    return m ? this.service(m[2], m[1]) : undefined;
  }

  listServices(): ServiceRecord[] {
    return [...this.services.values()];
  }

  /** Endpoints of a service, with pod labels filled in from the pods behind them. */
  endpoints(namespace: string, name: string): Endpoint[] {
    const out: Endpoint[] = [];
    for (const key of this.slicesOf.get(`${namespace}/${name}`) ?? []) {
      for (const e of this.slices.get(key)?.endpoints ?? []) {
        const pod = this.pods.get(e.address);
        out.push({ ...e, labels: pod?.labels ?? e.labels, serviceAccount: pod?.serviceAccount });
      }
    }
    return out;
  }

  listPods(): PodRecord[] {
    return [...this.pods.values()];
  }

  pod(ip: string): PodRecord | undefined {
    return this.pods.get(ip);
  }

  namespaceLabels(name: string): Record<string, string> | undefined {
    return this.namespaces.get(name);
  }

  secret(namespace: string, name: string): TlsSecret | undefined {
    return this.secrets.get(`${namespace}/${name}`);
  }

  get counts(): Record<string, number> {
    return { services: this.services.size, endpointSlices: this.slices.size, pods: this.pods.size, namespaces: this.namespaces.size, secrets: this.secrets.size };
  }

  private hostsOfPod(pod: PodRecord): string[] {
    const hosts: string[] = [];
    for (const svc of this.services.values()) {
      if (svc.namespace !== pod.namespace || !svc.selector || Object.keys(svc.selector).length === 0) continue;
      if (labelsMatch(svc.selector, pod.labels)) hosts.push(svc.hostname);
    }
    return hosts;
  }
}
