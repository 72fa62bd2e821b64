// Sidecar injection (pure): given a pod, the pod with Trellis's init container (the capture
// rules) and proxy (a native sidecar: an init container with restartPolicy Always, so the
// proxy starts before the app and stops after it). Istio's annotations are honoured under
// both names, traffic.sidecar.istio.io/* and traffic.sidecar.trellis.io/* (and so on).
import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';
import { CA_AUDIENCE, ROOT_CERT_CONFIGMAP, TLS_MODE_LABEL } from '../api/mesh-identity.js';
import { AGENT_STATUS_PORT, APP_PROBERS_ENV } from '../sidecar/agent-contract.js';
import { CaptureOptionError, parseCidrs, parsePorts } from '../sidecar/iptables.js';
import { prometheusMerge, type PrometheusMerge } from './prometheus-merge.js';
import { rewriteAppProbes } from './probes.js';

export interface InjectOptions {
  proxyImage: string;
  /** host:port of the control plane's xDS service. */
  discoveryAddress: string;
  proxyUid: number;
  clusterDomain: string;
  /** SPIFFE trust domain of workload certificates (default cluster.local). */
  trustDomain?: string;
  /** host:port of the mesh CA when not the discovery address (a plaintext debugging xDS port). */
  caAddress?: string;
  /** Istio's enablePrometheusMerge: scrape the pod at the agent, which merges the app's metrics (default true). */
  prometheusMerge?: boolean;
}

export const TOKEN_DIR = '/var/run/secrets/tokens';
export const ROOT_CERT_DIR = '/var/run/secrets/istio';
export const SDS_SOCKET_DIR = '/var/run/secrets/workload-spiffe-uds';


export const STATUS_ANNOTATION = 'sidecar.trellis.io/status';
export const INIT_NAME = 'trellis-init';
export const PROXY_NAME = 'trellis-proxy';

/**
 * Injected; skipped (opted out, or injected already); or rejected: the pod asks for the mesh (its
 * namespace is labelled) in a way that cannot be honoured, and admitting it without its sidecar
 * would silently take it out of the mesh (its routing, mTLS and authorization).
 */
export type InjectResult = { injected: V1Pod; warnings: string[] } | { skipped: string; warnings: string[] } | { rejected: string };

const QUANTITY = /^[+]?(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

/** The value of an annotation under its Trellis or Istio name (Trellis's wins). */
function annotation(pod: V1Pod, suffix: string, prefixes: string[]): { name: string; value: string } | undefined {
  const a = pod.metadata?.annotations ?? {};
  for (const p of prefixes) {
    const name = `${p}/${suffix}`;
    if (a[name] !== undefined) return { name, value: a[name] };
  }
  return undefined;
}

const TRAFFIC = ['traffic.sidecar.trellis.io', 'traffic.sidecar.istio.io'];
const SIDECAR = ['sidecar.trellis.io', 'sidecar.istio.io'];

function optOut(pod: V1Pod): string | undefined {
  for (const key of ['sidecar.trellis.io/inject', 'sidecar.istio.io/inject']) {
    const v = pod.metadata?.labels?.[key] ?? pod.metadata?.annotations?.[key];
    if (v !== undefined && v.toLowerCase() === 'false') return `${key}=false`;
  }
  return undefined;
}

/** Arguments for trellis-iptables from the traffic annotations; throws naming a bad one. */
function captureArgs(pod: V1Pod): string[] {
  const args: string[] = [];
  const spec: [string, string, 'ports' | 'cidrs', boolean][] = [
    ['includeInboundPorts', '--include-inbound-ports', 'ports', true],
    ['excludeInboundPorts', '--exclude-inbound-ports', 'ports', false],
    ['includeOutboundIPRanges', '--include-outbound-cidrs', 'cidrs', true],
    ['excludeOutboundIPRanges', '--exclude-outbound-cidrs', 'cidrs', false],
    ['includeOutboundPorts', '--include-outbound-ports', 'ports', false],
    ['excludeOutboundPorts', '--exclude-outbound-ports', 'ports', false],
  ];
  for (const [suffix, flag, kind, star] of spec) {
    const a = annotation(pod, suffix, TRAFFIC);
    if (!a) continue;
    const parsed = kind === 'ports' ? parsePorts(`annotation ${a.name}`, a.value, star) : parseCidrs(`annotation ${a.name}`, a.value, star);
    args.push(`${flag}=${parsed === '*' ? '*' : parsed.map((x) => (typeof x === 'string' ? x.replace(/\/32$/, '') : String(x))).join(',')}`);
  }
  return args;
}

function proxyResources(pod: V1Pod): NonNullable<V1Container['resources']> {
  const pick = (suffix: string, dflt: string | undefined): string | undefined => {
    const a = annotation(pod, suffix, SIDECAR);
    if (!a) return dflt;
    if (!QUANTITY.test(a.value.trim())) throw new CaptureOptionError(`annotation ${a.name}: "${a.value}" is not a resource quantity (e.g. 100m, 128Mi)`);
    return a.value.trim();
  };
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  const cpu = pick('proxyCPU', '10m');
  const mem = pick('proxyMemory', '40Mi');
  const cpuLimit = pick('proxyCPULimit', undefined);
  const memLimit = pick('proxyMemoryLimit', '1Gi');
  if (cpu) requests.cpu = cpu;
  if (mem) requests.memory = mem;
  if (cpuLimit) limits.cpu = cpuLimit;
  if (memLimit) limits.memory = memLimit;
  return { requests, limits };
}

/** `sidecar.trellis.io/workloadCertTTL: 30m`: the lifetime the agent asks for (the CA caps it). */
function workloadCertTtl(pod: V1Pod): string | undefined {
  const a = annotation(pod, 'workloadCertTTL', ['sidecar.trellis.io']);
  if (!a) return undefined;
  const m = /^(\d+)(s|m|h)$/.exec(a.value.trim());
  if (!m || Number(m[1]) < 1) throw new CaptureOptionError(`annotation ${a.name}: "${a.value}" is not a duration such as 90s, 30m or 24h`);
  return String(Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h']);
}

/**
 * `sidecar.istio.io/interceptionMode`: REDIRECT (the default) or NONE, the pod without iptables
 * capture: no init container, and the proxy's listeners bound for the app and its peers to call
 * (Istio's Sidecar `captureMode` examples). TPROXY is captured with REDIRECT, and said.
 */
function interceptionMode(pod: V1Pod): { mode: 'REDIRECT' | 'NONE'; warnings: string[] } {
  const a = annotation(pod, 'interceptionMode', SIDECAR);
  const value = a?.value.trim();
  if (!a || value === 'REDIRECT') return { mode: 'REDIRECT', warnings: [] };
  if (value === 'NONE') {
    // Capture annotations configure rules a pod without capture never gets: said, not dropped in silence.
    const ignored = Object.keys(pod.metadata?.annotations ?? {}).filter((k) => TRAFFIC.some((p) => k.startsWith(`${p}/`)));
    return { mode: 'NONE', warnings: ignored.map((k) => `annotation ${k} has no effect: ${a.name} is NONE, so the pod's traffic is not captured`) };
  }
  if (value === 'TPROXY') {
    return { mode: 'REDIRECT', warnings: [`annotation ${a.name}: TPROXY is captured with REDIRECT by Trellis: the app sees its inbound connections come from 127.0.0.6, not from the client's address`] };
  }
  throw new CaptureOptionError(`annotation ${a.name}: "${a.value}" is not an interception mode (REDIRECT, TPROXY or NONE)`);
}

const STATUS_ANNOTATIONS = [STATUS_ANNOTATION, 'sidecar.istio.io/status'];

const proxyContainers = (pod: V1Pod): string[] =>
  [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name).filter((n) => n === PROXY_NAME || n === 'istio-proxy');

export function alreadyInjected(pod: V1Pod): boolean {
  const a = pod.metadata?.annotations ?? {};
  return STATUS_ANNOTATIONS.some((k) => a[k] !== undefined) || proxyContainers(pod).length > 0;
}

/** A status annotation without the proxy it records: the pod claims an injection it never had. */
function forgedStatus(pod: V1Pod): string | undefined {
  const a = pod.metadata?.annotations ?? {};
  const key = STATUS_ANNOTATIONS.find((k) => a[k] !== undefined);
  if (!key || proxyContainers(pod).length > 0) return undefined;
  return `annotation ${key} says the pod is injected, but it has no ${PROXY_NAME} container: remove the annotation (a pod in a meshed namespace cannot leave the mesh this way; opt out with the label sidecar.istio.io/inject: "false")`;
}

export function injectPod(pod: V1Pod, o: InjectOptions): InjectResult {
  const out = optOut(pod);
  if (out) return { skipped: `opted out (${out})`, warnings: [] };
  const forged = forgedStatus(pod);
  if (forged) return { rejected: forged };
  if (alreadyInjected(pod)) return { skipped: 'already injected', warnings: [] };
  let args: string[];
  let resources: NonNullable<V1Container['resources']>;
  let certTtl: string | undefined;
  let metrics: PrometheusMerge;
  let interception: ReturnType<typeof interceptionMode>;
  try {
    interception = interceptionMode(pod);
    args = captureArgs(pod);
    resources = proxyResources(pod);
    certTtl = workloadCertTtl(pod);
    metrics = prometheusMerge(pod, o.prometheusMerge ?? true);
  } catch (err) {
    if (err instanceof CaptureOptionError) return { rejected: `${err.message}; fix or remove it, or opt the pod out with the label sidecar.istio.io/inject: "false"` };
    throw err;
  }
  const probes = rewriteAppProbes(pod);
  const hasProbers = Object.keys(probes.probers).length > 0;
  // The proxy's outbound connections to the control plane and the API server are its own
  // (UID 1337), so they are never captured: nothing to exclude for them.
  const init: V1Container = {
    name: INIT_NAME,
    image: o.proxyImage,
    command: ['trellis-iptables'],
    args: [`--proxy-uid=${o.proxyUid}`, `--proxy-gid=${o.proxyUid}`, ...args],
    resources: { requests: { cpu: '10m', memory: '10Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
    securityContext: {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
  };
  const proxy: V1Container = {
    name: PROXY_NAME,
    image: o.proxyImage,
    restartPolicy: 'Always',
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'INSTANCE_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'SERVICE_ACCOUNT', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
      { name: 'TRELLIS_DISCOVERY_ADDRESS', value: o.discoveryAddress },
      ...(o.caAddress ? [{ name: 'TRELLIS_CA_ADDRESS', value: o.caAddress }, { name: 'TRELLIS_XDS_TLS', value: 'false' }] : []),
      { name: 'TRELLIS_CLUSTER_DOMAIN', value: o.clusterDomain },
      { name: 'TRELLIS_TRUST_DOMAIN', value: o.trustDomain ?? 'cluster.local' },
      { name: 'TRELLIS_TOKEN_FILE', value: `${TOKEN_DIR}/istio-token` },
      { name: 'TRELLIS_ROOT_CERT', value: `${ROOT_CERT_DIR}/root-cert.pem` },
      { name: 'TRELLIS_SDS_SOCKET', value: `${SDS_SOCKET_DIR}/socket` },
      ...(certTtl ? [{ name: 'TRELLIS_CERT_TTL_SECONDS', value: certTtl }] : []),
      ...(interception.mode === 'NONE' ? [{ name: 'TRELLIS_INTERCEPTION_MODE', value: 'NONE' }] : []),
      ...(hasProbers ? [{ name: APP_PROBERS_ENV, value: JSON.stringify(probes.probers) }] : []),
      ...metrics.env,
    ],
    ports: [{ name: 'http-envoy-prom', containerPort: 15090, protocol: 'TCP' }, ...(hasProbers ? [{ name: 'http-app-health', containerPort: AGENT_STATUS_PORT, protocol: 'TCP' }] : [])],
    readinessProbe: { httpGet: { path: '/healthz/ready', port: 15021 }, periodSeconds: 2, failureThreshold: 30 },
    startupProbe: { httpGet: { path: '/healthz/ready', port: 15021 }, periodSeconds: 1, failureThreshold: 600 },
    resources,
    securityContext: {
      runAsUser: o.proxyUid,
      runAsGroup: o.proxyUid,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: 'trellis-proxy-config', mountPath: '/etc/trellis/proxy' },
      { name: 'trellis-podinfo', mountPath: '/etc/trellis/pod', readOnly: true },
      { name: 'istio-token', mountPath: TOKEN_DIR, readOnly: true },
      { name: 'istiod-ca-cert', mountPath: ROOT_CERT_DIR, readOnly: true },
      { name: 'workload-socket', mountPath: SDS_SOCKET_DIR },
    ],
  };
  const volumes: V1Volume[] = [
    { name: 'trellis-proxy-config', emptyDir: { medium: 'Memory' } },
    { name: 'trellis-podinfo', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
    // Istio's volume names, so tooling that looks for them finds them.
    { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { audience: CA_AUDIENCE, expirationSeconds: 43200, path: 'istio-token' } }] } },
    { name: 'istiod-ca-cert', configMap: { name: ROOT_CERT_CONFIGMAP } },
    // The agent's SDS socket: the workload key goes from the agent to Envoy through it, in memory.
    { name: 'workload-socket', emptyDir: { medium: 'Memory' } },
  ];
  const injected: V1Pod = structuredClone(pod);
  injected.spec = injected.spec ?? { containers: [] };
  // Without capture there are no rules to install, and no NET_ADMIN to grant.
  const ours = interception.mode === 'NONE' ? [proxy] : [init, proxy];
  injected.spec.initContainers = [...ours, ...(injected.spec.initContainers ?? [])];
  injected.spec.containers = structuredClone(probes.containers);
  injected.spec.volumes = [...(injected.spec.volumes ?? []), ...volumes];
  injected.metadata = injected.metadata ?? {};
  injected.metadata.labels = { ...(injected.metadata.labels ?? {}), [TLS_MODE_LABEL]: 'istio' };
  injected.metadata.annotations = {
    ...metrics.annotations,
    [STATUS_ANNOTATION]: JSON.stringify({ initContainers: ours.map((c) => c.name), volumes: volumes.map((v) => v.name), image: o.proxyImage }),
    'kubectl.kubernetes.io/default-container': injected.metadata.annotations?.['kubectl.kubernetes.io/default-container'] ?? injected.spec.containers[0]?.name ?? '',
  };
  return { injected, warnings: interception.warnings };
}
