// A root change seen by two real Envoys, each fed over SDS by the tests' SDS server in place of
// a pod's agent: the new bundle is pushed as ROOTCA as the agent pushes it when its root file
// changes (that the agent follows the file, and refuses a file that is not CA certificates, is
// proven with the real agent and Envoy in agent-process.test.ts), and mutual TLS between a
// workload of the old root and one of the new root works in both directions for the whole
// transition, with no restart and an open connection kept.
// What it must not do: a certificate of an unrelated CA stays refused throughout, and once the
// old root leaves the bundle a certificate of it is refused too. No cluster needed.
import { jest } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { MeshCa } from '../../src/ca/authority.js';
import { createCsr, spiffeId } from '../../src/ca/csr.js';
import { loggerFor, setLogLevel } from '../../src/util/logger.js';
import { agentSdsCluster, bootstrap as sidecarBootstrap, SDS_FROM_AGENT } from '../../src/sidecar/bootstrap.js';
import { SdsServer, type WorkloadSecrets } from '../support/sds/sds-server.js';
import { Envoy, freePort, validateBootstrap, waitFor } from '../support/envoy.js';

jest.setTimeout(180_000);

const TD = 'cluster.local';
const log = loggerFor('test-agent');

/** A pod's agent, reduced to what a root change involves. */
interface Pod {
  name: string;
  dir: string;
  sds: SdsServer;
  secrets: WorkloadSecrets;
  envoy?: Envoy;
}


async function workloadCert(ca: MeshCa, sa: string): Promise<{ chainPem: string; keyPem: string }> {
  const { csrPem, keyPem } = createCsr(spiffeId({ trustDomain: TD, namespace: 'default', serviceAccount: sa }));
  const chain = await ca.sign(csrPem, { trustDomain: TD, namespace: 'default', serviceAccount: sa }, 3600);
  return { chainPem: chain.slice(0, -1).join(''), keyPem };
}

async function startPod(name: string, ca: MeshCa, bundle: string): Promise<Pod> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `trellis-root-${name}-`));
  const sds = new SdsServer(path.join(dir, 'sds.sock'), log);
  const secrets = { ...(await workloadCert(ca, name)), rootPem: bundle };
  await sds.start(secrets);
  return { name, dir, sds, secrets };
}

/** What the agent does when its root file changes: a new ROOTCA, the certificate kept. */
function publishRoot(pod: Pod, bundle: string): Promise<void> {
  return renew(pod, { ...pod.secrets, rootPem: bundle });
}

async function renew(pod: Pod, secrets: WorkloadSecrets): Promise<void> {
  pod.secrets = secrets;
  await pod.sds.update(secrets);
}

const tlsSocket = (upstream: boolean, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'envoy.transport_sockets.tls',
  typed_config: {
    '@type': `type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.${upstream ? 'Upstream' : 'Downstream'}TlsContext`,
    common_tls_context: {
      tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: SDS_FROM_AGENT }],
      combined_validation_context: {
        default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: `spiffe://${TD}/` } }] },
        validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: SDS_FROM_AGENT },
      },
    },
    ...extra,
  },
});

const hcm = (routeAction: Record<string, unknown>): Record<string, unknown> => ({
  name: 'envoy.filters.network.http_connection_manager',
  typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: 'http',
    route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, ...routeAction }] }] },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
  },
});

/** The server pod: an mTLS listener (workload certificate and ROOTCA over SDS) answering 200. */
function serverConfig(pod: Pod, port: number): Record<string, unknown> {
  return {
    node: { id: `sidecar~127.0.0.1~${pod.name}.default~default.svc.cluster.local`, cluster: pod.name },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      clusters: [agentSdsCluster(path.join(pod.dir, 'sds.sock'))],
      listeners: [
        {
          name: 'inbound',
          address: { socket_address: { address: '127.0.0.1', port_value: port } },
          filter_chains: [{ filters: [hcm({ direct_response: { status: 200, body: { inline_string: 'ok' } } })], transport_socket: tlsSocket(false, { require_client_certificate: true }) }],
        },
      ],
    },
  };
}

/** The client pod: plain HTTP in, mTLS out to the server, one request per connection (a handshake each). */
function clientConfig(pod: Pod, port: number, upstreamPort: number): Record<string, unknown> {
  return {
    node: { id: `sidecar~127.0.0.1~${pod.name}.default~default.svc.cluster.local`, cluster: pod.name },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    static_resources: {
      clusters: [
        agentSdsCluster(path.join(pod.dir, 'sds.sock')),
        {
          name: 'server',
          type: 'STATIC',
          connect_timeout: '2s',
          load_assignment: { cluster_name: 'server', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstreamPort } } } }] }] },
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              common_http_protocol_options: { max_requests_per_connection: 1 },
              explicit_http_config: { http_protocol_options: {} },
            },
          },
          transport_socket: tlsSocket(true),
        },
      ],
      listeners: [{ name: 'outbound', address: { socket_address: { address: '127.0.0.1', port_value: port } }, filter_chains: [{ filters: [hcm({ route: { cluster: 'server' } })] }] }],
    },
  };
}

function get(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/** The first trusted root Envoy's /certs reports (it lists one per context, the bundle's first). */
async function firstTrusted(envoy: Envoy): Promise<string[]> {
  const certs = JSON.parse(await envoy.admin('/certs')) as { certificates?: Array<{ ca_cert?: Array<{ serial_number: string }> }> };
  return [...new Set((certs.certificates ?? []).flatMap((c) => (c.ca_cert ?? []).map((x) => x.serial_number.toLowerCase())))].sort();
}

/** How often Envoy rebuilt a TLS context from an SDS update (listeners and clusters). */
async function sdsUpdates(envoy: Envoy): Promise<number> {
  return [...(await envoy.stats('ssl_context_update_by_sds')).values()].reduce((a, b) => a + b, 0);
}

const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber.toLowerCase();

let oldCa: MeshCa;
let newCa: MeshCa;
let evilCa: MeshCa;
let server: Pod;
let client: Pod;
let serverPort: number;
let clientPort: number;

beforeAll(async () => {
  setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error');
  [oldCa, newCa, evilCa] = await Promise.all([0, 1, 2].map(() => MeshCa.create({ trustDomain: TD })));
  server = await startPod('server', oldCa, oldCa.rootPem);
  client = await startPod('client', oldCa, oldCa.rootPem);
  [serverPort, clientPort] = [await freePort(), await freePort()];
  server.envoy = await Envoy.start(serverConfig(server, serverPort));
  client.envoy = await Envoy.start(clientConfig(client, clientPort, serverPort));
});

afterAll(async () => {
  for (const p of [client, server]) {
    if (!p) continue;
    await p.envoy?.stop();
    await p.sds.close();
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
});

const ok = (): Promise<boolean> => waitFor('a 200 through mutual TLS', async () => (await get(clientPort).catch(() => 0)) === 200, 30_000);
const refused = (): Promise<boolean> => waitFor('the request to be refused', async () => (await get(clientPort).catch(() => 200)) !== 200, 30_000);

test('before the change: both workloads hold certificates of the old root and talk', async () => {
  await ok();
});

test('the bundle with both roots reaches both Envoys, without a restart', async () => {
  const pids = [server.envoy!.pid, client.envoy!.pid];
  const before = await Promise.all([server, client].map((p) => sdsUpdates(p.envoy!)));
  // New root first, as the control plane publishes it; /certs shows the first one.
  for (const p of [server, client]) await publishRoot(p, newCa.rootPem + oldCa.rootPem);
  for (const [i, p] of [server, client].entries()) {
    await p.envoy!.eventually('the new bundle in Envoy', async () => (await sdsUpdates(p.envoy!)) > before[i] && JSON.stringify(await firstTrusted(p.envoy!)) === JSON.stringify([serialOf(newCa.rootPem)]));
  }
  expect([server.envoy!.pid, client.envoy!.pid]).toEqual(pids);
  expect(await server.envoy!.stat('listener_manager.listener_modified')).toBe(0);
  // Still one trust between them: the old root is in the bundle too.
  await ok();
});

test('an old-root client and a new-root server trust each other, and the other way round', async () => {
  await renew(server, { ...server.secrets, ...(await workloadCert(newCa, 'server')) });
  await ok();
  const handshakes = await client.envoy!.stat('cluster.server.ssl.handshake');
  for (let i = 0; i < 3; i++) expect(await get(clientPort)).toBe(200);
  expect(await client.envoy!.stat('cluster.server.ssl.handshake')).toBeGreaterThanOrEqual(handshakes + 3);
  await renew(server, { ...server.secrets, ...(await workloadCert(oldCa, 'server')) });
  await renew(client, { ...client.secrets, ...(await workloadCert(newCa, 'client')) });
  await ok();
});

test('during the transition a certificate of an unrelated CA is still refused, the same SPIFFE ID notwithstanding', async () => {
  const good = client.secrets;
  await renew(client, { ...good, ...(await workloadCert(evilCa, 'client')) });
  await refused();
  expect(await server.envoy!.stat('listener.127.0.0.1_' + serverPort + '.ssl.fail_verify_error')).toBeGreaterThan(0);
  await renew(client, good);
  await ok();
});

test('an open connection established under the old bundle keeps serving across the change', async () => {
  const leaf = await workloadCert(oldCa, 'probe');
  const socket = tls.connect({ host: '127.0.0.1', port: serverPort, cert: leaf.chainPem, key: leaf.keyPem, ca: oldCa.rootPem + newCa.rootPem, checkServerIdentity: () => undefined });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  const ask = (): Promise<string> =>
    new Promise((resolve) => {
      socket.once('data', (d: Buffer) => resolve(d.toString()));
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    });
  expect(await ask()).toMatch(/^HTTP\/1\.1 200/);
  const stat = `listener.127.0.0.1_${serverPort}.server_ssl_socket_factory.ssl_context_update_by_sds`;
  const updates = await server.envoy!.stat(stat);
  // The same two roots in another order: a new ROOTCA for Envoy all the same.
  await publishRoot(server, oldCa.rootPem + newCa.rootPem);
  await server.envoy!.eventually('the pushed ROOTCA applied', async () => (await server.envoy!.stat(stat)) > updates);
  expect(await ask()).toMatch(/^HTTP\/1\.1 200/);
  socket.destroy();
});

test('after the transition (new root only) a certificate of the old root is refused, one of the new root works', async () => {
  await renew(server, { ...server.secrets, ...(await workloadCert(newCa, 'server')) });
  const before = await Promise.all([server, client].map((p) => sdsUpdates(p.envoy!)));
  for (const p of [server, client]) await publishRoot(p, newCa.rootPem);
  // /certs shows the first root only: the refusal below proves the old one is gone.
  for (const [i, p] of [server, client].entries()) await p.envoy!.eventually('the new bundle in Envoy', async () => (await sdsUpdates(p.envoy!)) > before[i]);
  await ok();
  const current = client.secrets;
  const failures = await server.envoy!.stat(`listener.127.0.0.1_${serverPort}.ssl.fail_verify_error`);
  await renew(client, { ...current, ...(await workloadCert(oldCa, 'client')) });
  await refused();
  expect(await server.envoy!.stat(`listener.127.0.0.1_${serverPort}.ssl.fail_verify_error`)).toBeGreaterThan(failures);
  await renew(client, current);
  await ok();
});

test('the sidecar bootstrap verifies xDS against ROOTCA from the agent (it follows a root change), and Envoy accepts it', async () => {
  const config = sidecarBootstrap({
    kind: 'sidecar',
    podName: 'p',
    namespace: 'default',
    podIp: '10.0.0.1',
    labels: {},
    serviceAccount: 'default',
    discoveryAddress: 'trellis.trellis-system.svc:15012',
    clusterDomain: 'cluster.local',
    adsApi: 'DELTA_GRPC',
    sdsSocket: '/tmp/nonexistent.sock',
    xdsTls: { token: 'x' },
    adminPort: 15000,
    statsPort: 15090,
    readinessPort: 15021,
  });
  expect(JSON.stringify(config)).toContain('"validation_context_sds_secret_config":{"name":"ROOTCA"');
  const r = await validateBootstrap({ json: config });
  expect(r.output).not.toMatch(/error/i);
  expect(r.code).toBe(0);
});
