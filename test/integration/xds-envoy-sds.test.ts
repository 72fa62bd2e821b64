// SDS with the real Envoy: a listener whose DownstreamTlsContext takes its certificate over ADS
// (sds_config ads) serves the certificate Trellis sends as a Secret — seen by a real TLS client
// that trusts only the test CA — and a new Secret replaces it without restarting Envoy.
import { jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { DownstreamTlsContext } from '../../src/xds/generated/envoy/extensions/transport_sockets/tls/v3/DownstreamTlsContext.js';
import type { HttpConnectionManager } from '../../src/xds/generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager.js';
import { setLogLevel } from '../../src/util/logger.js';
import { packAny } from '../../src/xds/protos.js';
import { StaticSnapshotProvider } from '../../src/xds/snapshot.js';
import type { XdsServer } from '../../src/xds/server.js';
import { freePort, startXdsAndEnvoy, type Envoy } from '../support/envoy.js';
import { configSource } from '../support/envoy-resources.js';
import { TypeUrl, type Listener, type Secret } from '../../src/xds/types.js';

jest.setTimeout(120_000);

const SNI = 'echo.trellis.test';
const SECRET = 'default';

/** A test CA and two server certificates it signed (different subjects), made with openssl. */
function makeCerts(dir: string): { ca: string; certs: Array<{ cert: string; key: string; cn: string }> } {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=trellis test CA', '-keyout', 'ca.key', '-out', 'ca.crt');
  fs.writeFileSync(path.join(dir, 'san.ext'), `subjectAltName=DNS:${SNI}\nextendedKeyUsage=serverAuth\n`);
  const certs = ['server-v1', 'server-v2'].map((cn) => {
    run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${cn}.key`, '-out', `${cn}.csr`);
    run('x509', '-req', '-in', `${cn}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', `${cn}.crt`);
    return { cn, cert: fs.readFileSync(path.join(dir, `${cn}.crt`), 'utf8'), key: fs.readFileSync(path.join(dir, `${cn}.key`), 'utf8') };
  });
  return { ca: fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8'), certs };
}

function secret(cert: string, key: string): Secret {
  return { name: SECRET, tls_certificate: { certificate_chain: { inline_string: cert }, private_key: { inline_string: key } } };
}

/** An HTTPS listener answering 200 itself; its certificate comes over SDS (ADS). */
function tlsListener(port: number): Listener {
  const hcm: HttpConnectionManager = {
    stat_prefix: 'https',
    route_config: {
      name: 'local',
      virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'tls ok' } } }] }],
    },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: packAny('envoy.extensions.filters.http.router.v3.Router', {}) }],
  };
  const tlsContext: DownstreamTlsContext = {
    common_tls_context: { tls_certificate_sds_secret_configs: [{ name: SECRET, sds_config: configSource() }] },
  };
  return {
    name: 'https',
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: packAny('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', hcm) }],
        transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: packAny('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', tlsContext) },
      },
    ],
  };
}

/** A TLS handshake trusting only `ca`; returns the served certificate's subject CN and fingerprint. */
function handshake(port: number, ca: string): Promise<{ cn: string; fingerprint256: string; response: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: SNI, ca, rejectUnauthorized: true, timeout: 5000 }, () => {
      const peer = socket.getPeerCertificate();
      let response = '';
      socket.on('data', (d: Buffer) => (response += d.toString()));
      socket.on('end', () => resolve({ cn: String(peer.subject.CN), fingerprint256: peer.fingerprint256, response }));
      socket.write(`GET / HTTP/1.1\r\nHost: ${SNI}\r\nConnection: close\r\n\r\n`);
    });
    socket.on('timeout', () => socket.destroy(new Error('TLS connection timed out')));
    socket.on('error', reject);
  });
}

const fingerprint = (pem: string) => new crypto.X509Certificate(pem).fingerprint256;

describe('SDS: Envoy serves the certificate of a Secret sent over ADS', () => {
  const nodeId = 'sidecar~127.0.0.1~sds-test.default~default.svc.cluster.local';
  let dir: string;
  let certs: ReturnType<typeof makeCerts>;
  let provider: StaticSnapshotProvider;
  let server: XdsServer;
  let envoy: Envoy;
  let port: number;

  const eventually = <T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> => envoy.eventually(what, fn);

  beforeAll(async () => {
    setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-sds-'));
    certs = makeCerts(dir);
    port = await freePort();
    provider = new StaticSnapshotProvider({
      [TypeUrl.Secret]: new Map([[SECRET, secret(certs.certs[0].cert, certs.certs[0].key)]]),
      [TypeUrl.Listener]: new Map([['https', tlsListener(port)]]),
      [TypeUrl.Cluster]: new Map(),
    });
    ({ server, envoy } = await startXdsAndEnvoy(provider, { nodeId }));
  });

  afterAll(async () => {
    await envoy?.stop();
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a TLS client that trusts the test CA gets the Secret\'s certificate', async () => {
    const served = await eventually('a TLS handshake with the listener', async () => handshake(port, certs.ca).catch(() => undefined));
    expect(served.cn).toBe('server-v1');
    expect(served.fingerprint256).toBe(fingerprint(certs.certs[0].cert));
    expect(served.response).toMatch(/^HTTP\/1\.1 200/);
    expect(served.response).toContain('tls ok');
    const sds = server.registry.get(nodeId)?.status().streams[0]?.types.find((t) => t.typeUrl === TypeUrl.Secret);
    expect(sds).toMatchObject({ wildcard: false, subscribed: 1, acked: 1, inflightNonce: undefined });
  });

  test('a new Secret replaces the certificate without restarting Envoy', async () => {
    const pid = envoy.pid;
    const updatesBefore = await envoy.stat(`listener.127.0.0.1_${port}.server_ssl_socket_factory.ssl_context_update_by_sds`);
    provider.update({ [TypeUrl.Secret]: new Map([[SECRET, secret(certs.certs[1].cert, certs.certs[1].key)]]) });
    await server.push({ reason: 'secrets', types: [TypeUrl.Secret] });
    const served = await eventually('the new certificate', async () => {
      const s = await handshake(port, certs.ca).catch(() => undefined);
      return s?.cn === 'server-v2' ? s : undefined;
    });
    expect(served.fingerprint256).toBe(fingerprint(certs.certs[1].cert));
    expect(served.response).toMatch(/^HTTP\/1\.1 200/);
    expect(envoy.pid).toBe(pid);
    // The same listener, updated in place by SDS (not re-created, not drained).
    expect(await envoy.stat(`listener.127.0.0.1_${port}.server_ssl_socket_factory.ssl_context_update_by_sds`)).toBeGreaterThan(updatesBefore);
    expect(await envoy.stat('listener_manager.listener_modified')).toBe(0);
    expect(server.registry.get(nodeId)?.nacks).toEqual([]);
  });

  test('the certificate is not trusted by a client without the test CA (the check is real)', async () => {
    await expect(handshake(port, unrelatedCa())).rejects.toThrow();
  });
});

/** A CA that did not sign anything here. */
function unrelatedCa(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-sds-other-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=other CA', '-keyout', 'k', '-out', 'c'], { cwd: d, stdio: 'pipe' });
    return fs.readFileSync(path.join(d, 'c'), 'utf8');
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
}
