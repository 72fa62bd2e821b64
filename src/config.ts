import { parseArgs } from 'node:util';
import { DEFAULT_DEBOUNCE, type DebounceOptions } from './push/debouncer.js';
import { parseDurationMs } from './util/duration.js';
import { DEFAULT_XDS_LIMITS, type XdsLimits } from './xds/limits.js';

/** Command-line options of the control plane; most have an environment variable too. */
export interface ControlPlaneConfig {
  monitoringHost: string;
  monitoringPort: number;
  /** Plaintext xDS (debugging, trusted proxyless clients; never Secrets); undefined when off. */
  xdsAddress: string | undefined;
  /** xDS and the mesh CA over TLS, streams bound to workload identities; undefined when off. */
  xdsTlsAddress: string | undefined;
  /** SPIFFE trust domain of workload identities. */
  trustDomain: string;
  /** Secret (in --namespace) of the self-signed mesh root, when no `cacerts` plug-in CA is there. */
  caSecret: string;
  workloadCertTtlSeconds: number;
  maxWorkloadCertTtlSeconds: number;
  /** After a root change: publish the new root this long before signing with it. */
  caRootPropagationMs: number;
  /** Namespace of mesh-wide policies (Istio's root namespace). */
  rootNamespace: string;
  /** The control plane's Service: debug pages need `get services/proxy` on it. */
  serviceName: string;
  /** Label selector of the namespaces the root certificate ConfigMap is published in. */
  rootCertNamespaces: string;
  webhookHost: string;
  webhookPort: number;
  /** Names and addresses the webhook certificate covers (the Service's DNS names by default). */
  webhookDnsNames: string[];
  webhookIps: string[];
  validatingWebhookConfig: string;
  mutatingWebhookConfig: string;
  certSecret: string;
  namespace: string;
  kubeconfig: string | undefined;
  logLevel: string;
  /** Replace a watch that delivered nothing (not even a bookmark) for this long. */
  watchStallMs: number;
  proxyImage: string;
  /** Istio's meshConfig.outboundTrafficPolicy.mode: unknown destinations pass or are blocked. */
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** host:port the injected proxies reach the control plane's xDS at. */
  discoveryAddress: string;
  /** Istio's MeshConfig as YAML (extensionProviders for CUSTOM authorization); undefined: none. */
  meshConfigPath: string | undefined;
  /** What one xDS client may cost the control plane. */
  xdsLimits: XdsLimits;
  /** How configuration changes are merged into pushes (endpoint changes are not debounced). */
  debounce: DebounceOptions;
}

export const USAGE = `trellis: service mesh control plane (a drop-in for istiod's networking API)

Usage: trellis [options]

Options:
  --monitoring-address HOST:PORT  /metrics, /ready, /healthz and /debug/configz
                                  (env TRELLIS_MONITORING_ADDRESS, default 0.0.0.0:15014)
  --xds-tls-address HOST:PORT     xDS (gRPC, ADS and per-type) and the mesh CA over TLS:
                                  every stream authenticated (workload certificate or service
                                  account token, audience istio-ca) and bound to its identity
                                  (env TRELLIS_XDS_TLS_ADDRESS, default 0.0.0.0:15012)
  --xds-address HOST:PORT         plaintext xDS for debugging and trusted proxyless clients:
                                  unauthenticated, and never sent a Secret
                                  (env TRELLIS_XDS_ADDRESS, default off; e.g. 0.0.0.0:15010)
  --trust-domain DOMAIN           SPIFFE trust domain of workload identities
                                  (env TRELLIS_TRUST_DOMAIN, default cluster.local)
  --ca-secret NAME                Secret in --namespace keeping the self-signed mesh root
                                  (default istio-ca-secret); a Secret "cacerts" there in
                                  Istio's plug-in format is used instead when present
  --workload-cert-ttl DURATION    default lifetime of workload certificates (default 24h)
  --max-workload-cert-ttl DURATION  longest lifetime granted (default 2160h, 90 days); after a
                                  root change the old root stays trusted this long
  --ca-root-propagation DURATION  after a root change, how long the new root is published
                                  before the CA signs with it (default 2m: the kubelet's
                                  ConfigMap volume update); 0s switches at once
  --root-namespace NS             where mesh-wide policies live (default --namespace)
  --root-cert-namespaces SELECTOR label selector of the namespaces the mesh root is published
                                  in as ConfigMap istio-ca-root-cert (default
                                  "!trellis.io/control-plane": every namespace not labelled
                                  as another control plane's)
  --service-name NAME             the control plane's Service; /debug/* answers loopback
                                  callers and bearer tokens allowed to get services/proxy
                                  on it (default trellis)
  --xds-max-message-size BYTES    largest xDS request accepted (default 4194304, 4 MiB;
                                  larger ones end the stream with RESOURCE_EXHAUSTED)
  --xds-max-streams-per-connection N  concurrent streams on one connection (default 64)
  --xds-max-streams-per-identity N    open streams of one workload identity, or of one
                                  address on the plaintext port (default 1000)
  --xds-max-names-per-type N      resource names one stream may subscribe to, per type
                                  (default 50000)
  --xds-request-rate N            requests per second one stream may send, bursts of 5×N
                                  (default 100); a stream above it is ended
  --xds-admission-rate N          new xDS streams admitted per second: a reconnect storm
                                  waits its turn instead of starving the pushes to connected
                                  proxies (default as Istio's: 15 + 5 per CPU, at most 100)
  --debounce-after DURATION       a configuration change pushes at once when nothing changed
                                  this long before it; changes closer together are merged
                                  and pushed once this long passes without another (default
                                  100ms, Istio's PILOT_DEBOUNCE_AFTER); endpoint changes are
                                  never held
  --debounce-max DURATION         the longest a change waits while changes keep coming
                                  (default 10s, Istio's PILOT_DEBOUNCE_MAX)
  --webhook-address HOST:PORT     HTTPS admission webhooks: /validate and /inject
                                  (env TRELLIS_WEBHOOK_ADDRESS, default 0.0.0.0:15017)
  --proxy-image IMAGE             the sidecar image injected into pods
                                  (env TRELLIS_PROXY_IMAGE, default trellis/proxy:latest)
  --outbound-traffic-policy MODE  ALLOW_ANY (default: unknown destinations pass through) or
                                  REGISTRY_ONLY (only Services and ServiceEntries are reachable)
                                  (env TRELLIS_OUTBOUND_TRAFFIC_POLICY)
  --discovery-address HOST:PORT   where injected proxies reach Trellis's xDS and CA over TLS
                                  (default trellis.<namespace>.svc:15012)
  --mesh-config FILE              Istio's MeshConfig in YAML (the \`mesh\` key of istiod's
                                  ConfigMap); Trellis reads extensionProviders, the external
                                  authorizers CUSTOM AuthorizationPolicies name (default none)
  --webhook-dns-name NAME         a DNS name the webhook certificate covers; repeatable
                                  (default trellis.<namespace>.svc and its longer forms)
  --webhook-ip IP                 an IP address the webhook certificate covers; repeatable
  --validating-webhook-config N   ValidatingWebhookConfiguration whose caBundle Trellis keeps
                                  (default trellis-validator)
  --mutating-webhook-config N     MutatingWebhookConfiguration whose caBundle Trellis keeps
                                  (default trellis-sidecar-injector)
  --cert-secret NAME              Secret in --namespace holding the webhook CA and certificate
                                  (default trellis-webhook-certs)
  --namespace NS                  the control plane's namespace (env POD_NAMESPACE,
                                  default trellis-system)
  --kubeconfig PATH               kubeconfig to use; in a pod the service account is used
                                  (env KUBECONFIG)
  --log-level LEVEL               error, warn, info or debug (env TRELLIS_LOG_LEVEL, default info)
  --watch-stall-seconds N         replace a watch that delivered nothing for N seconds, not
                                  even a bookmark (default 330)
  -h, --help                      print this help

Logs are JSON lines unless stdout is a terminal or TRELLIS_LOG_FORMAT=text.
SIGTERM and SIGINT stop the process cleanly.
`;

export class UsageError extends Error {}

function hostPort(flag: string, address: string): { host: string; port: number } {
  const sep = address.lastIndexOf(':');
  const port = Number(address.slice(sep + 1));
  if (sep <= 0 || address.slice(sep + 1) === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${flag}: want HOST:PORT with a port 0-65535, got "${address}"`);
  }
  return { host: address.slice(0, sep).replace(/^\[(.*)\]$/, '$1'), port };
}

/** "90s", "30m", "24h" or a combination ("1h30m") as seconds; at least one second. */
function durationSeconds(flag: string, value: string, zeroAllowed = false): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(value);
  const s = m ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : NaN;
  if (!m || value === '' || !(s >= (zeroAllowed ? 0 : 1))) throw new UsageError(`${flag}: want a duration such as 1h, 30m or 90s, got "${value}"`);
  return s;
}

/** A duration in Go's syntax as Istio's PILOT_DEBOUNCE_* take it (100ms, 0.5s, 1m30s), in milliseconds; more than 0. */
function durationMs(flag: string, value: string): number {
  const ms = parseDurationMs(value);
  if (ms === undefined || !(ms > 0)) throw new UsageError(`${flag}: want a duration such as 100ms, 10s or 1m, got "${value}"`);
  return ms;
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): ControlPlaneConfig | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        'monitoring-address': { type: 'string' },
        'webhook-address': { type: 'string' },
        'xds-address': { type: 'string' },
        'xds-tls-address': { type: 'string' },
        'webhook-dns-name': { type: 'string', multiple: true },
        'webhook-ip': { type: 'string', multiple: true },
        'validating-webhook-config': { type: 'string' },
        'mutating-webhook-config': { type: 'string' },
        'cert-secret': { type: 'string' },
        namespace: { type: 'string' },
        kubeconfig: { type: 'string' },
        'log-level': { type: 'string' },
        'watch-stall-seconds': { type: 'string' },
        'proxy-image': { type: 'string' },
        'outbound-traffic-policy': { type: 'string' },
        'discovery-address': { type: 'string' },
        'trust-domain': { type: 'string' },
        'ca-secret': { type: 'string' },
        'workload-cert-ttl': { type: 'string' },
        'max-workload-cert-ttl': { type: 'string' },
        'ca-root-propagation': { type: 'string' },
        'root-namespace': { type: 'string' },
        'service-name': { type: 'string' },
        'root-cert-namespaces': { type: 'string' },
        'mesh-config': { type: 'string' },
        'xds-max-message-size': { type: 'string' },
        'xds-max-streams-per-connection': { type: 'string' },
        'xds-max-streams-per-identity': { type: 'string' },
        'xds-max-names-per-type': { type: 'string' },
        'xds-request-rate': { type: 'string' },
        'xds-admission-rate': { type: 'string' },
        'debounce-after': { type: 'string' },
        'debounce-max': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  const monitoring = hostPort('--monitoring-address', v['monitoring-address'] ?? env.TRELLIS_MONITORING_ADDRESS ?? '0.0.0.0:15014');
  const webhook = hostPort('--webhook-address', v['webhook-address'] ?? env.TRELLIS_WEBHOOK_ADDRESS ?? '0.0.0.0:15017');
  const xdsFlag = v['xds-address'] ?? env.TRELLIS_XDS_ADDRESS ?? 'off';
  const xds = xdsFlag === 'off' ? undefined : hostPort('--xds-address', xdsFlag);
  const xdsTlsFlag = v['xds-tls-address'] ?? env.TRELLIS_XDS_TLS_ADDRESS ?? '0.0.0.0:15012';
  const xdsTls = xdsTlsFlag === 'off' ? undefined : hostPort('--xds-tls-address', xdsTlsFlag);
  const logLevel = v['log-level'] ?? env.TRELLIS_LOG_LEVEL ?? 'info';
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel)) {
    throw new UsageError(`--log-level: want error, warn, info or debug, got "${logLevel}"`);
  }
  const namespace = v.namespace ?? env.POD_NAMESPACE ?? 'trellis-system';
  const outbound = v['outbound-traffic-policy'] ?? env.TRELLIS_OUTBOUND_TRAFFIC_POLICY ?? 'ALLOW_ANY';
  if (outbound !== 'ALLOW_ANY' && outbound !== 'REGISTRY_ONLY') throw new UsageError(`--outbound-traffic-policy: want ALLOW_ANY or REGISTRY_ONLY, got "${outbound}"`);
  const stall = Number(v['watch-stall-seconds'] ?? 330);
  if (!Number.isFinite(stall) || stall < 1) throw new UsageError(`--watch-stall-seconds: want a number of seconds >= 1, got "${v['watch-stall-seconds']}"`);
  const trustDomain = v['trust-domain'] ?? env.TRELLIS_TRUST_DOMAIN ?? 'cluster.local';
  if (!/^[a-z0-9.-]+$/.test(trustDomain)) throw new UsageError(`--trust-domain: want a DNS-like name (lower-case letters, digits, dots, dashes), got "${trustDomain}"`);
  const ttl = durationSeconds('--workload-cert-ttl', v['workload-cert-ttl'] ?? '24h');
  const maxTtl = durationSeconds('--max-workload-cert-ttl', v['max-workload-cert-ttl'] ?? '2160h');
  if (ttl > maxTtl) throw new UsageError(`--workload-cert-ttl: ${v['workload-cert-ttl']} is longer than --max-workload-cert-ttl`);
  if (!xdsTls) throw new UsageError('--xds-tls-address: cannot be off: injected proxies get their certificates and configuration there');
  const count = (flag: string, fallback: number): number => {
    const raw = v[flag as keyof typeof v];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (typeof raw !== 'string' || !/^\d+$/.test(raw) || !(n >= 1)) throw new UsageError(`--${flag}: want a whole number >= 1, got "${String(raw)}"`);
    return n;
  };
  const requestRate = count('xds-request-rate', DEFAULT_XDS_LIMITS.requestsPerSecond);
  const admissionRate = count('xds-admission-rate', DEFAULT_XDS_LIMITS.admissionsPerSecond);
  const xdsLimits: XdsLimits = {
    ...DEFAULT_XDS_LIMITS,
    maxMessageBytes: count('xds-max-message-size', DEFAULT_XDS_LIMITS.maxMessageBytes),
    maxStreamsPerConnection: count('xds-max-streams-per-connection', DEFAULT_XDS_LIMITS.maxStreamsPerConnection),
    maxStreamsPerIdentity: count('xds-max-streams-per-identity', DEFAULT_XDS_LIMITS.maxStreamsPerIdentity),
    maxNamesPerType: count('xds-max-names-per-type', DEFAULT_XDS_LIMITS.maxNamesPerType),
    requestsPerSecond: requestRate,
    requestBurst: requestRate * 5,
    admissionsPerSecond: admissionRate,
    admissionBurst: admissionRate,
  };
  const debounce: DebounceOptions = {
    quietMs: v['debounce-after'] === undefined ? DEFAULT_DEBOUNCE.quietMs : durationMs('--debounce-after', v['debounce-after']),
    maxDelayMs: v['debounce-max'] === undefined ? DEFAULT_DEBOUNCE.maxDelayMs : durationMs('--debounce-max', v['debounce-max']),
  };
  if (debounce.maxDelayMs < debounce.quietMs) throw new UsageError(`--debounce-max: ${debounce.maxDelayMs}ms is shorter than --debounce-after (${debounce.quietMs}ms)`);
  return {
    monitoringHost: monitoring.host,
    monitoringPort: monitoring.port,
    xdsAddress: xds && `${xds.host}:${xds.port}`,
    xdsTlsAddress: xdsTls && `${xdsTls.host}:${xdsTls.port}`,
    webhookHost: webhook.host,
    webhookPort: webhook.port,
    webhookDnsNames: v['webhook-dns-name'] ?? [`trellis.${namespace}.svc`, `trellis.${namespace}.svc.cluster.local`, `trellis.${namespace}`],
    webhookIps: v['webhook-ip'] ?? [],
    validatingWebhookConfig: v['validating-webhook-config'] ?? 'trellis-validator',
    mutatingWebhookConfig: v['mutating-webhook-config'] ?? 'trellis-sidecar-injector',
    certSecret: v['cert-secret'] ?? 'trellis-webhook-certs',
    namespace,
    kubeconfig: v.kubeconfig ?? env.KUBECONFIG,
    logLevel,
    watchStallMs: stall * 1000,
    proxyImage: v['proxy-image'] ?? env.TRELLIS_PROXY_IMAGE ?? 'trellis/proxy:latest',
    outboundTrafficPolicy: outbound,
    discoveryAddress: v['discovery-address'] ?? `trellis.${namespace}.svc:15012`,
    meshConfigPath: v['mesh-config'],
    xdsLimits,
    debounce,
    trustDomain,
    caSecret: v['ca-secret'] ?? 'istio-ca-secret',
    workloadCertTtlSeconds: ttl,
    maxWorkloadCertTtlSeconds: maxTtl,
    caRootPropagationMs: v['ca-root-propagation'] === undefined ? 120_000 : durationSeconds('--ca-root-propagation', v['ca-root-propagation'], true) * 1000,
    rootNamespace: v['root-namespace'] ?? namespace,
    serviceName: v['service-name'] ?? 'trellis',
    rootCertNamespaces: v['root-cert-namespaces'] ?? '!trellis.io/control-plane',
  };
}
