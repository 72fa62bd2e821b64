// A small mesh built from plain records, for the translation's tests and benchmarks: Services,
// their endpoints (one EndpointSlice per Service), and Istio configs, as a real Mesh.
import type { ConfigKind } from '../../src/api/common.js';
import { ConfigStore, type AnyConfig, type ConfigOf } from '../../src/model/config-store.js';
import { Mesh } from '../../src/model/mesh.js';
import { ServiceRegistry, type Endpoint, type ServicePort } from '../../src/model/services.js';
import { unpackAny } from '../../src/xds/protos.js';
import type { SidecarProxy } from '../../src/translate/input.js';

export interface ServiceFixture {
  namespace: string;
  name: string;
  clusterIP?: string;
  ports: Array<Partial<ServicePort> & { port: number }>;
  selector?: Record<string, string>;
  exportTo?: string[];
  /** Endpoints of the service (one EndpointSlice). */
  endpoints?: Array<Partial<Endpoint> & { address: string }>;
}

let clock = 0;

/**
 * A config of `kind`, each one younger than the last (so creation order is precedence order),
 * unless `creationTimestamp` is given.
 */
/** A stored config as the store would hold it (tests pass plain objects, and sometimes what validate() would refuse). */
export function config<K extends ConfigKind>(kind: K, namespace: string, name: string, spec: unknown, creationTimestamp?: string): ConfigOf<K> {
  clock++;
  return {
    kind,
    namespace,
    name,
    generation: 1,
    resourceVersion: String(clock),
    creationTimestamp: creationTimestamp ?? new Date(Date.UTC(2024, 0, 1, 0, 0, 0) + clock * 1000).toISOString(),
    labels: {},
    annotations: {},
    spec,
  } as ConfigOf<K>;
}

/** The config store and service registry a Mesh is built from (for tests that change them). */
export function buildSources(services: readonly ServiceFixture[], configs: readonly AnyConfig[] = []): { store: ConfigStore; registry: ServiceRegistry } {
  const store = new ConfigStore();
  for (const c of configs) store.upsert(c);
  const registry = new ServiceRegistry();
  for (const s of services) {
    registry.upsertService({
      namespace: s.namespace,
      name: s.name,
      clusterIP: s.clusterIP,
      ports: s.ports.map((p) => ({ name: p.name ?? '', port: p.port, targetPort: p.targetPort ?? p.port, protocol: p.protocol ?? 'TCP', ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) })),
      labels: {},
      selector: s.selector ?? { app: s.name },
      exportTo: s.exportTo ?? [],
    });
    if (s.endpoints) upsertEndpoints(registry, s, s.endpoints);
  }
  return { store, registry };
}

/** Replaces a fixture service's endpoints (its one EndpointSlice). */
export function upsertEndpoints(registry: ServiceRegistry, s: ServiceFixture, endpoints: NonNullable<ServiceFixture['endpoints']>): void {
  registry.upsertSlice(
    s.namespace,
    `${s.name}-slice`,
    s.name,
    endpoints.map((e) => ({ ready: true, labels: {}, ports: Object.fromEntries(s.ports.map((p) => [p.name ?? '', typeof p.targetPort === 'number' ? p.targetPort : p.port])), ...e })),
  );
}

export function buildMesh(services: readonly ServiceFixture[], configs: readonly AnyConfig[] = []): Mesh {
  const { store, registry } = buildSources(services, configs);
  return new Mesh(store, registry);
}

export function sidecar(namespace: string, labels: Record<string, string> = {}, ip = '10.0.0.99'): SidecarProxy {
  return { namespace, labels, ip, ips: [ip] };
}

/** A typed_config (google.protobuf.Any) decoded to a plain object with its `@type`, for assertions. */
export function decoded(any: unknown): Record<string, unknown> {
  return unpackAny((any ?? {}) as Parameters<typeof unpackAny>[0]);
}
