// Services of the mesh by host: Kubernetes Services and ServiceEntry hosts side by side, and the
// one a client namespace gets for a host. Istio's rule: candidates in the order private to the
// client's namespace, exported to it by name, public (oldest first within each); the first wins,
// except that a Kubernetes Service always beats a ServiceEntry (no squatting on its name).
import type { Labels } from '../api/common.js';
import type { ServiceEntryLocation, ServiceEntryResolution } from '../api/service-entry.js';
import { compareByAge } from './config-order.js';
import { hostSubsetOf, isWildcard, mostSpecificHostMatch } from './hosts.js';
import type { ServicePort, ServiceRecord } from './services.js';
import { visibilityOf, visibilityRank, type Visibility } from './visibility.js';

export interface MeshServicePort {
  name: string;
  number: number;
  /** Istio's protocol name (HTTP, HTTP2, HTTPS, GRPC, TCP, TLS, …); UNKNOWN means auto-detect. */
  protocol: string;
  targetPort: number | string | undefined;
}

export interface MeshService {
  hostname: string;
  namespace: string;
  source: 'Kubernetes' | 'ServiceEntry';
  /** The Service's or the ServiceEntry's name. */
  name: string;
  ports: MeshServicePort[];
  /** Kubernetes Services resolve as STATIC (endpoints from EndpointSlices), headless ones as NONE. */
  resolution: ServiceEntryResolution;
  location: ServiceEntryLocation;
  addresses: string[];
  exportTo: string[];
  visibility: Visibility;
  /** Kubernetes Service selector or ServiceEntry workloadSelector. */
  selector: Labels | undefined;
  /** Empty for Kubernetes Services (the registry does not keep it; they never compete by age). */
  creationTimestamp: string;
  subjectAltNames: string[];
}

const PROTOCOLS: Record<string, string> = {
  http: 'HTTP',
  http2: 'HTTP2',
  https: 'HTTPS',
  grpc: 'GRPC',
  'grpc-web': 'GRPC-Web',
  tcp: 'TCP',
  tls: 'TLS',
  mongo: 'Mongo',
  mysql: 'MySQL',
  redis: 'Redis',
  udp: 'UDP',
  'kubernetes.io/h2c': 'HTTP2',
  'kubernetes.io/ws': 'HTTP',
  'kubernetes.io/wss': 'HTTPS',
};

/** Istio's protocol of a Kubernetes Service port: appProtocol, else the name's prefix (`http-web`), else auto-detect. */
export function protocolOfServicePort(p: Pick<ServicePort, 'name' | 'protocol' | 'appProtocol'>): string {
  if (p.protocol === 'UDP') return 'UDP';
  const fromApp = p.appProtocol ? PROTOCOLS[p.appProtocol.toLowerCase()] : undefined;
  if (fromApp) return fromApp;
  const name = (p.name ?? '').toLowerCase();
  const fromName = PROTOCOLS[name] ?? PROTOCOLS[name.split('-')[0]];
  return fromName && fromName !== 'UDP' ? fromName : 'UNKNOWN';
}

export function serviceFromKubernetes(rec: ServiceRecord, defaultExportTo: readonly string[]): MeshService {
  const headless = rec.clusterIP === 'None';
  return {
    hostname: rec.hostname,
    namespace: rec.namespace,
    source: 'Kubernetes',
    name: rec.name,
    ports: rec.ports.map((p) => ({ name: p.name, number: p.port, protocol: protocolOfServicePort(p), targetPort: p.targetPort })),
    resolution: headless ? 'NONE' : 'STATIC',
    location: 'MESH_INTERNAL',
    addresses: rec.clusterIP && !headless ? [rec.clusterIP] : [],
    exportTo: rec.exportTo,
    visibility: visibilityOf(rec.exportTo, rec.namespace, defaultExportTo),
    selector: rec.selector,
    creationTimestamp: '',
    subjectAltNames: [],
  };
}

function byAge(a: MeshService, b: MeshService): number {
  return compareByAge(a, b);
}

/** All services by host, answering "which service is this host, for this client namespace". */
export class ServiceIndex {
  private readonly byHostname = new Map<string, MeshService[]>();
  private readonly wildcards: string[];

  constructor(services: readonly MeshService[]) {
    for (const s of [...services].sort(byAge)) {
      const list = this.byHostname.get(s.hostname);
      if (list) list.push(s);
      else this.byHostname.set(s.hostname, [s]);
    }
    this.wildcards = [...this.byHostname.keys()].filter(isWildcard);
  }

  all(): MeshService[] {
    return [...this.byHostname.values()].flat();
  }

  hostnames(): IterableIterator<string> {
    return this.byHostname.keys();
  }

  /** Every service with exactly this hostname, in any namespace, oldest first. */
  byHost(host: string): MeshService[] {
    return this.byHostname.get(host) ?? [];
  }

  /** The service a client in `client` gets for exactly this hostname, if it sees one. */
  forClient(host: string, client: string): MeshService | undefined {
    const ranked: { s: MeshService; rank: number }[] = [];
    for (const s of this.byHost(host)) {
      const rank = visibilityRank(s.visibility, s.namespace, client);
      if (rank !== undefined) ranked.push({ s, rank });
    }
    ranked.sort((a, b) => a.rank - b.rank || byAge(a.s, b.s));
    return (ranked.find((r) => r.s.source === 'Kubernetes') ?? ranked[0])?.s;
  }

  /**
   * The service traffic for `host` from `client` reaches: the exact hostname, else the most
   * specific wildcard service host (a ServiceEntry for `*.example.com`) that covers it.
   */
  resolve(host: string, client: string): MeshService | undefined {
    const exact = this.forClient(host, client);
    if (exact) return exact;
    const wildcards = this.wildcards.filter((h) => h !== host && this.forClient(h, client) !== undefined);
    const key = mostSpecificHostMatch(host, wildcards);
    return key === undefined ? undefined : this.forClient(key, client);
  }

  /** Services visible from `client` whose hostname is covered by the wildcard `host`. */
  coveredBy(host: string, client: string): MeshService[] {
    const out: MeshService[] = [];
    for (const h of this.byHostname.keys()) {
      if (!hostSubsetOf(h, host)) continue;
      const s = this.forClient(h, client);
      if (s) out.push(s);
    }
    return out;
  }
}
