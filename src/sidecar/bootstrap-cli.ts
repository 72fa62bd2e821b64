#!/usr/bin/env node
// trellis-bootstrap: writes Envoy's bootstrap for the sidecar (or gateway) from the pod's
// identity (downward API env and files) and prints where, as one JSON line on stdout:
// {"file": ..., "node": ...}. The agent (src/sidecar/agent, Go) runs it once at start and then
// starts Envoy with that file; the bootstrap itself stays here, in the TypeScript the tests
// start their Envoys with (bootstrap.ts).
import fs from 'node:fs';
import path from 'node:path';
import { loggerFor } from '../util/logger.js';
import { bootstrap, DEFAULT_PORTS, DEFAULT_SDS_SOCKET } from './bootstrap.js';
import { parseDownwardApiLabels } from './downward-api.js';

const USAGE = `trellis-bootstrap: write Envoy's bootstrap for this pod; print {"file", "node"} as JSON

Usage: trellis-bootstrap      (configured by the environment the injector sets; trellis-agent runs it)

  POD_NAME, POD_NAMESPACE, INSTANCE_IP  the pod (downward API; required)
  SERVICE_ACCOUNT               the pod's service account (default default)
  TRELLIS_PROXY_TYPE            sidecar (default) or router (a gateway)
  TRELLIS_DISCOVERY_ADDRESS     xDS server host:port (default trellis.trellis-system.svc:15012)
  TRELLIS_XDS_TLS               false: plaintext xDS (debugging only; default true)
  TRELLIS_TOKEN_FILE            the pod's service account token (default /var/run/secrets/tokens/istio-token)
  TRELLIS_CLUSTER_DOMAIN        the cluster's DNS domain (default cluster.local)
  TRELLIS_ADS_API               GRPC or DELTA_GRPC (default)
  TRELLIS_SDS_SOCKET            the agent's SDS socket (default ${DEFAULT_SDS_SOCKET})
  TRELLIS_CONFIG_DIR            where the bootstrap is written (default /etc/trellis/proxy)
  TRELLIS_LABELS_FILE           the pod's labels (downward API; default /etc/trellis/pod/labels)
  TRELLIS_INTERCEPTION_MODE     REDIRECT (default: iptables captures the pod's traffic) or NONE
  -h, --help                    this help
`;
if (process.argv.slice(2).some((a) => a === '-h' || a === '--help')) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const log = loggerFor('bootstrap');

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

const config = bootstrap({
  kind: env('TRELLIS_PROXY_TYPE', 'sidecar') === 'router' ? 'router' : 'sidecar',
  podName: env('POD_NAME'),
  namespace: env('POD_NAMESPACE'),
  podIp: env('INSTANCE_IP'),
  labels: readLabels(env('TRELLIS_LABELS_FILE', '/etc/trellis/pod/labels')),
  serviceAccount: env('SERVICE_ACCOUNT', 'default'),
  discoveryAddress: env('TRELLIS_DISCOVERY_ADDRESS', 'trellis.trellis-system.svc:15012'),
  clusterDomain: env('TRELLIS_CLUSTER_DOMAIN', 'cluster.local'),
  // Delta xDS by default, as Istio's proxies today; TRELLIS_ADS_API=GRPC asks for state of the world.
  adsApi: process.env.TRELLIS_ADS_API === 'GRPC' ? 'GRPC' : 'DELTA_GRPC',
  sdsSocket: env('TRELLIS_SDS_SOCKET', DEFAULT_SDS_SOCKET),
  interceptionMode: process.env.TRELLIS_INTERCEPTION_MODE === 'NONE' ? 'NONE' : 'REDIRECT',
  xdsTls: env('TRELLIS_XDS_TLS', 'true') !== 'false' ? { token: fs.readFileSync(env('TRELLIS_TOKEN_FILE', '/var/run/secrets/tokens/istio-token'), 'utf8').trim() } : undefined,
  ...DEFAULT_PORTS,
});
const dir = env('TRELLIS_CONFIG_DIR', '/etc/trellis/proxy');
fs.mkdirSync(dir, { recursive: true });
const file = path.join(dir, 'envoy-bootstrap.json');
fs.writeFileSync(file, JSON.stringify(config, null, 2));
process.stdout.write(`${JSON.stringify({ file, node: (config.node as { id: string }).id })}\n`);
