// The golden translation cases, test/fixtures/golden/<case>/: `input.yaml` (Kubernetes Services,
// EndpointSlices, Pods, Namespaces, Secrets, and Istio config) goes into the model the way the
// controllers put it there (validated by the same validate(); an invalid object is an error
// naming the file); `proxy.yaml` says which proxy asks; the control plane's own provider
// translates; the expected output is one file per xDS type, as
// `trellisctl proxy-config KIND POD -o json` prints it.
import fs from 'node:fs';
import path from 'node:path';
import { isConfigKind } from '../../src/api/common.js';
import { proxyConfigJson, type ConfigKind } from '../../src/cli/proxy-config.js';
import { loadDocs } from '../../src/cli/files.js';
import { CREDENTIAL_SECRET_TYPES, upsertDiscovered } from '../../src/controllers/discovery.js';
import { configFromObject, type NetworkingObject } from '../../src/controllers/networking.js';
import { ConfigStore } from '../../src/model/config-store.js';
import type { Mesh } from '../../src/model/mesh.js';
import { ServiceRegistry } from '../../src/model/services.js';
import { MeshSource } from '../../src/push/changes.js';
import type { SidecarOptions } from '../../src/translate/input.js';
import { MeshSnapshotProvider } from '../../src/translate/provider.js';
import { configDump } from '../../src/xds/config-dump.js';
import { parseNode, type ProxyInfo } from '../../src/xds/proxy-info.js';
import type { Snapshot } from '../../src/xds/snapshot.js';
import { TypeUrl } from '../../src/xds/types.js';

export const GOLDEN_DIR = path.join(process.cwd(), 'test/fixtures/golden');

/** The expected output files of a case: one per xDS type, named by proxy-config's kinds. */
export const OUTPUT_KINDS = ['listeners', 'routes', 'clusters', 'endpoints', 'secrets'] as const satisfies readonly ConfigKind[];
export type OutputKind = (typeof OUTPUT_KINDS)[number];

export const CASE_INPUTS = ['input.yaml', 'proxy.yaml'] as const;

export interface GoldenCase {
  name: string;
  dir: string;
  mesh: Mesh;
  proxy: ProxyInfo;
  options: Partial<SidecarOptions>;
}

/** What proxy.yaml may say. */
interface ProxySpec {
  /** sidecar (Envoy beside a workload), gateway (an Envoy router), proxyless (a gRPC client, GENERATOR=grpc). */
  type: 'sidecar' | 'gateway' | 'proxyless';
  namespace: string;
  /** The pod's name (the node id's); default `<type>-0`. */
  pod?: string;
  ip?: string;
  labels?: Record<string, string>;
  /** The workload identity the proxy proved (only then is it sent Secrets); default `default`. */
  serviceAccount?: string;
  /** The control plane's sidecar options (e.g. outboundPolicy: REGISTRY_ONLY). */
  options?: Partial<SidecarOptions>;
}

const PROXY_KEYS = new Set(['type', 'namespace', 'pod', 'ip', 'labels', 'serviceAccount', 'options']);
const OPTION_KEYS = new Set<string>(['outboundPolicy', 'outboundPort', 'inboundPort']);

export function goldenCaseNames(): string[] {
  return fs
    .readdirSync(GOLDEN_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

const rel = (file: string): string => path.relative(process.cwd(), file);

function readProxy(file: string): ProxySpec {
  const [doc, ...more] = loadDocs([file], () => '');
  const p = doc?.doc as Partial<ProxySpec> | undefined;
  const fail = (msg: string): never => {
    throw new Error(`${rel(file)}: ${msg}`);
  };
  if (!p || typeof p !== 'object' || more.length) fail('want one YAML document: type, namespace, and optionally pod, ip, labels, serviceAccount, options');
  for (const k of Object.keys(p!)) if (!PROXY_KEYS.has(k)) fail(`unknown key "${k}" (known: ${[...PROXY_KEYS].join(', ')})`);
  for (const k of Object.keys(p!.options ?? {})) if (!OPTION_KEYS.has(k)) fail(`options: unknown key "${k}" (known: ${[...OPTION_KEYS].join(', ')})`);
  if (p!.type !== 'sidecar' && p!.type !== 'gateway' && p!.type !== 'proxyless') fail(`type: want sidecar, gateway or proxyless, got ${JSON.stringify(p!.type)}`);
  if (!p!.namespace) fail('namespace: required');
  return p as ProxySpec;
}

const stringValue = (v: string) => ({ kind: 'stringValue', stringValue: v });

/** The proxy as the xDS server sees it: its Node parsed, then bound to the identity it proved. */
function proxyInfo(p: ProxySpec): ProxyInfo {
  const pod = p.pod ?? `${p.type}-0`;
  const ip = p.ip ?? '10.0.0.99';
  const labels = Object.fromEntries(Object.entries(p.labels ?? {}).map(([k, v]) => [k, stringValue(v)]));
  const node = {
    id: `${p.type === 'gateway' ? 'router' : 'sidecar'}~${ip}~${pod}.${p.namespace}~${p.namespace}.svc.cluster.local`,
    metadata: {
      fields: {
        NAMESPACE: stringValue(p.namespace),
        LABELS: { kind: 'structValue', structValue: { fields: labels } },
        ...(p.type === 'proxyless' ? { GENERATOR: stringValue('grpc') } : {}),
      },
    },
  };
  return { ...parseNode(node as never), identity: { namespace: p.namespace, serviceAccount: p.serviceAccount ?? 'default' } };
}

/** Replaces every string value equal to a key of `files` (a path in the YAML) with its value. */
function withFiles<T>(v: T, files: Readonly<Record<string, string>>): T {
  if (typeof v === 'string') return (files[v] ?? v) as T;
  if (Array.isArray(v)) return v.map((x) => withFiles(x, files)) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withFiles(x, files)])) as T;
  return v;
}

const SECRET_TYPES: readonly string[] = CREDENTIAL_SECRET_TYPES;

/** A Secret's stringData into its data, base64, as the API server stores it (PEM stays readable in the case). */
function secretData(obj: { stringData?: Record<string, string>; data?: Record<string, string> }): void {
  if (!obj.stringData) return;
  obj.data = { ...obj.data, ...Object.fromEntries(Object.entries(obj.stringData).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
  delete obj.stringData;
}

/**
 * input.yaml into a config store and a service registry. What the API server would fill in is
 * filled in: the namespace (`default`), generation 1, a Secret's data from its stringData, and,
 * in document order, resourceVersion and creationTimestamp (so the order of the file is the
 * order of creation, which decides precedence among Istio configs).
 */
function loadInput(file: string, files: Readonly<Record<string, string>>): { store: ConfigStore; registry: ServiceRegistry } {
  const store = new ConfigStore();
  const registry = new ServiceRegistry();
  loadDocs([file], () => '').forEach(({ doc }, i) => {
    const obj = withFiles(doc, files) as NetworkingObject & { type?: string; stringData?: Record<string, string>; data?: Record<string, string> };
    const kind = obj.kind ?? '';
    const md = (obj.metadata ??= {});
    md.namespace ??= 'default';
    md.generation ??= 1;
    md.resourceVersion ??= String(i + 1);
    md.creationTimestamp ??= new Date(Date.UTC(2024, 0, 1) + (i + 1) * 1000);
    const what = `${rel(file)}: document ${i + 1} (${kind || 'no kind'} ${md.namespace}/${md.name ?? ''})`;
    if (isConfigKind(kind)) {
      const accepted = configFromObject(kind, obj);
      if ('errors' in accepted) throw new Error(`${what}: invalid, the controllers would reject it:\n  ${accepted.errors.join('\n  ')}`);
      store.upsert(accepted.config);
    } else if (kind === 'Secret' && !SECRET_TYPES.includes(obj.type ?? 'Opaque')) {
      throw new Error(`${what}: Secret type ${obj.type} is never read by the control plane (only ${SECRET_TYPES.join(', ')})`);
    } else if (kind in upsertDiscovered) {
      if (kind === 'Secret') secretData(obj);
      upsertDiscovered[kind as keyof typeof upsertDiscovered](registry, obj as never);
    } else {
      throw new Error(`${what}: the control plane does not read kind ${JSON.stringify(kind)} (Istio kinds, Service, EndpointSlice, Pod, Namespace, Secret)`);
    }
  });
  return { store, registry };
}

/**
 * A case as the control plane would see it. `files` maps paths named in input.yaml (a
 * DestinationRule's caCertificates) to real files, for tests that hand the result to Envoy.
 */
export function loadGoldenCase(name: string, opts: { dir?: string; files?: Readonly<Record<string, string>> } = {}): GoldenCase {
  const dir = path.join(opts.dir ?? GOLDEN_DIR, name);
  const spec = readProxy(path.join(dir, 'proxy.yaml'));
  const { store, registry } = loadInput(path.join(dir, 'input.yaml'), opts.files ?? {});
  return { name, dir, mesh: new MeshSource(store, registry).current(), proxy: proxyInfo(spec), options: spec.options ?? {} };
}

const ALL_TYPES: ReadonlySet<TypeUrl> = new Set(Object.values(TypeUrl));

/** What the control plane's provider gives the case's proxy (sidecar, gateway or proxyless). */
export function goldenSnapshot(c: GoldenCase): Snapshot {
  return new MeshSnapshotProvider(() => c.mesh, c.options).snapshot(c.proxy, ALL_TYPES);
}

/** Each output file's text: what `trellisctl proxy-config KIND -o json` prints for the proxy. */
export function goldenOutputs(c: GoldenCase, snapshot: Snapshot): Record<OutputKind, string> {
  const dump = { id: c.proxy.id, resources: configDump(snapshot) };
  return Object.fromEntries(OUTPUT_KINDS.map((k) => [k, proxyConfigJson(dump, k)])) as Record<OutputKind, string>;
}
