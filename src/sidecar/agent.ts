#!/usr/bin/env node
// trellis-agent: the sidecar container's entry point. Obtains the pod's workload certificate
// from the mesh CA (the key is made here and never leaves the pod) and serves it to Envoy over
// SDS on a Unix socket, renewing it at half its lifetime; writes Envoy's bootstrap from the
// pod's identity (downward API env and files), starts Envoy, forwards signals, and on SIGTERM
// drains Envoy's listeners before it lets Envoy go, so in-flight requests finish.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { requestCertificate } from '../ca/certificate-client.js';
import { spiffeId } from '../ca/csr.js';
import { loggerFor } from '../util/logger.js';
import { AGENT_STATUS_PORT, APP_PROBERS_ENV, parseAppProbers } from './app-probes.js';
import { bootstrap, DEFAULT_PORTS, DEFAULT_SDS_SOCKET } from './bootstrap.js';
import { parseDownwardApiLabels } from './downward-api.js';
import { parsePrometheusAnnotations, PROMETHEUS_ANNOTATIONS_ENV } from './metrics-merge.js';
import { SdsServer } from './sds-server.js';
import { statusServer } from './status-server.js';
import { RootWatcher } from './root-watch.js';
import type { WorkloadSecrets } from './sds-server.js';
import { WorkloadCertificate } from './workload-certificate.js';

const USAGE = `trellis-agent: the sidecar's agent: workload certificate over SDS, Envoy's bootstrap, Envoy

Usage: trellis-agent          (configured by the environment the injector sets)

  POD_NAME, POD_NAMESPACE, INSTANCE_IP  the pod (downward API; required)
  SERVICE_ACCOUNT               the pod's service account (default default)
  TRELLIS_PROXY_TYPE            sidecar (default) or router (a gateway)
  TRELLIS_DISCOVERY_ADDRESS     xDS server host:port (default trellis.trellis-system.svc:15012)
  TRELLIS_CA_ADDRESS            mesh CA host:port (default the discovery address)
  TRELLIS_XDS_TLS               false: plaintext xDS (debugging only; default true)
  TRELLIS_TOKEN_FILE            the pod's service account token (default /var/run/secrets/tokens/istio-token)
  TRELLIS_ROOT_CERT             the mesh root certificate (default /var/run/secrets/istio/root-cert.pem)
  TRELLIS_TRUST_DOMAIN          SPIFFE trust domain (default cluster.local)
  TRELLIS_CLUSTER_DOMAIN        the cluster's DNS domain (default cluster.local)
  TRELLIS_ADS_API               GRPC (default) or DELTA_GRPC
  TRELLIS_CERT_TTL_SECONDS      workload certificate lifetime (default 86400)
  TRELLIS_SDS_SOCKET            where the SDS server listens (default ${DEFAULT_SDS_SOCKET})
  TRELLIS_CONFIG_DIR            where Envoy's bootstrap is written (default /etc/trellis/proxy)
  TRELLIS_LABELS_FILE           the pod's labels (downward API; default /etc/trellis/pod/labels)
  TRELLIS_DRAIN_SECONDS         drain time on SIGTERM (default 5)
  TRELLIS_ENVOY                 the envoy binary (default envoy)
  TRELLIS_PROXY_LOG_LEVEL       Envoy's log level (default warning)
  ISTIO_KUBE_APP_PROBERS        the app's probes, served on ${AGENT_STATUS_PORT} (set by the injector)
  ISTIO_PROMETHEUS_ANNOTATIONS  the app's metrics endpoint, merged into ${AGENT_STATUS_PORT}/stats/prometheus (set by the injector)
  -h, --help                    this help
`;
if (process.argv.slice(2).some((a) => a === '-h' || a === '--help')) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const log = loggerFor('agent');

function env(name: string, fallback?: string): string {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') {
    log.error('missing environment variable', { name });
    process.exit(2);
  }
  return v;
}

/** A downward API labels file: lines of key="value". */
function readLabels(file: string): Record<string, string> {
  try {
    return parseDownwardApiLabels(fs.readFileSync(file, 'utf8'));
  } catch {
    log.warn('no pod labels file; starting without labels', { file });
    return {};
  }
}

function adminPost(port: number, pathAndQuery: string): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: pathAndQuery, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', () => resolve());
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

const kind = env('TRELLIS_PROXY_TYPE', 'sidecar') === 'router' ? 'router' : 'sidecar';
const configDir = env('TRELLIS_CONFIG_DIR', '/etc/trellis/proxy');
const drainSeconds = Number(env('TRELLIS_DRAIN_SECONDS', '5'));
const namespace = env('POD_NAMESPACE');
const serviceAccount = env('SERVICE_ACCOUNT', 'default');
const discoveryAddress = env('TRELLIS_DISCOVERY_ADDRESS', 'trellis.trellis-system.svc:15012');
// The CA shares the TLS xDS port; with a plaintext discovery address (debugging) it is named apart.
const caAddress = env('TRELLIS_CA_ADDRESS', discoveryAddress);
const xdsTls = env('TRELLIS_XDS_TLS', 'true') !== 'false';
const tokenFile = env('TRELLIS_TOKEN_FILE', '/var/run/secrets/tokens/istio-token');
const rootCertFile = env('TRELLIS_ROOT_CERT', '/var/run/secrets/istio/root-cert.pem');
const sdsSocket = env('TRELLIS_SDS_SOCKET', DEFAULT_SDS_SOCKET);
const ttlSeconds = Number(env('TRELLIS_CERT_TTL_SECONDS', String(24 * 3600)));
const identity = spiffeId({ trustDomain: env('TRELLIS_TRUST_DOMAIN', 'cluster.local'), namespace, serviceAccount });
const caHost = caAddress.slice(0, caAddress.lastIndexOf(':'));

// The token is read at each use: the kubelet rotates it in place.
const readToken = (): string => fs.readFileSync(tokenFile, 'utf8').trim();
const readRoot = (): string => fs.readFileSync(rootCertFile, 'utf8');
// Envoy starts at once and waits on SDS for the certificate, obtained meanwhile (and retried
// for as long as the CA cannot sign): without it Envoy has no mesh TLS and no xDS connection.
const sds = new SdsServer(sdsSocket, loggerFor('agent/sds'));
await sds.start();
// What Envoy has: the certificate and the root bundle change apart (a renewal, a root change),
// and whichever comes later must not bring back the other's older half.
let served: WorkloadSecrets | undefined;
const serve = async (next: WorkloadSecrets): Promise<void> => {
  served = next;
  await sds.update(next);
};
const roots = new RootWatcher(
  {
    file: rootCertFile,
    log,
    onChange: async (rootPem) => {
      if (served) await serve({ ...served, rootPem });
    },
  },
  readRootOrEmpty(),
);
// The roots the watcher accepted (a root file it refused is not used to verify the CA either).
const trustedRoots = (): string => roots.accepted || readRoot();
const certificate = new WorkloadCertificate({
  spiffeId: identity,
  ttlSeconds,
  sign: (csrPem, ttl) => requestCertificate({ address: caAddress, rootCaPem: trustedRoots(), serverName: caHost, token: readToken(), csrPem, ttlSeconds: ttl }),
  readRoot: trustedRoots,
  log,
});
roots.start();
void certificate
  .obtain()
  .then(async (secrets) => {
    await serve({ ...secrets, rootPem: latestRoot(secrets.rootPem) });
    certificate.renewEvery(secrets, async (next) => {
      await serve({ ...next, rootPem: latestRoot(next.rootPem) });
      log.info('workload certificate renewed', { identity });
    });
  })
  .catch((err: unknown) => log.error('no workload certificate', { error: err instanceof Error ? err.message : String(err) }));

function readRootOrEmpty(): string {
  try {
    return readRoot();
  } catch {
    return '';
  }
}

/** The root bundle as the watcher last accepted it (a renewal read the file earlier, maybe). */
function latestRoot(fallback: string): string {
  return roots.accepted || fallback;
}

// The status port: the kubelet's probes of the app, rewritten by the injector to come here
// (webhooks/probes.ts), and Prometheus's scrape of the pod (Envoy's stats and the app's merged).
const probers = parseAppProbers(process.env[APP_PROBERS_ENV], log);
// The app's metrics are a sidecar's only (as in Istio): a gateway's scrape is its Envoy's stats.
const appMetrics = kind === 'sidecar' ? parsePrometheusAnnotations(process.env[PROMETHEUS_ANNOTATIONS_ENV], AGENT_STATUS_PORT, log) : undefined;
statusServer(probers, { envoyUrl: `http://127.0.0.1:${DEFAULT_PORTS.statsPort}/stats/prometheus`, app: appMetrics }, log)
  .on('error', (err) => log.error('cannot serve the status port', { port: AGENT_STATUS_PORT, error: err.message }))
  .listen(AGENT_STATUS_PORT, '0.0.0.0', () => log.info('serving the status port', { port: AGENT_STATUS_PORT, probes: [...probers.keys()], appMetrics }));

const config = bootstrap({
  kind,
  podName: env('POD_NAME'),
  namespace,
  podIp: env('INSTANCE_IP'),
  labels: readLabels(env('TRELLIS_LABELS_FILE', '/etc/trellis/pod/labels')),
  serviceAccount,
  discoveryAddress,
  clusterDomain: env('TRELLIS_CLUSTER_DOMAIN', 'cluster.local'),
  // Delta xDS by default, as Istio's proxies today; TRELLIS_ADS_API=GRPC asks for state of the world.
  adsApi: process.env.TRELLIS_ADS_API === 'GRPC' ? 'GRPC' : 'DELTA_GRPC',
  sdsSocket,
  xdsTls: xdsTls ? { token: readToken() } : undefined,
  ...DEFAULT_PORTS,
});
fs.mkdirSync(configDir, { recursive: true });
const file = path.join(configDir, 'envoy-bootstrap.json');
fs.writeFileSync(file, JSON.stringify(config, null, 2));

const args = ['-c', file, '--disable-hot-restart', '--drain-time-s', String(drainSeconds), '--drain-strategy', 'immediate', '--log-level', env('TRELLIS_PROXY_LOG_LEVEL', 'warning'), '--log-format', '%Y-%m-%dT%T.%fZ\t%l\tenvoy %n\t%v'];
log.info('starting envoy', { node: (config.node as { id: string }).id, bootstrap: file });
const envoy = spawn(env('TRELLIS_ENVOY', 'envoy'), args, { stdio: 'inherit' });
envoy.on('error', (err) => {
  log.error('cannot start envoy', { error: err.message });
  process.exit(1);
});
envoy.on('exit', (code, signal) => {
  log.info('envoy exited', { code, signal });
  certificate.stop();
  roots.stop();
  process.exit(code ?? (signal ? 0 : 1));
});

let draining = false;
process.on('SIGTERM', () => {
  if (draining) return;
  draining = true;
  // Listeners stop accepting and Envoy sends GOAWAY / Connection: close on open connections;
  // after the drain period Envoy is told to stop.
  log.info('draining', { seconds: drainSeconds });
  void adminPost(DEFAULT_PORTS.adminPort, '/drain_listeners?graceful&inboundonly').then(() =>
    setTimeout(() => envoy.kill('SIGTERM'), drainSeconds * 1000),
  );
});
for (const sig of ['SIGINT', 'SIGHUP'] as const) process.on(sig, () => envoy.kill(sig));
