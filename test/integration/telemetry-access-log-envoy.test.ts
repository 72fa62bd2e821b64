// Telemetry access logs with the real Envoy and real traffic on loopback: the sidecar's translated
// outbound listener (rebound on a loopback port, the test's stand-in for what iptables captures)
// takes the Telemetry over ADS; a workload Telemetry turns its access log on in Istio's text
// format, then JSON (an envoyFileAccessLog provider with Istio's labels), then behind a CEL filter,
// then off; each time the test reads the lines Envoy writes to its stdout and checks the fields a
// user reads there (method, path, response code, upstream cluster).
import { jest } from '@jest/globals';
import http from 'node:http';
import net from 'node:net';
import type { ExtensionProvider } from '../../src/api/mesh-config.js';
import type { TelemetrySpec } from '../../src/api/telemetry.js';
import { Mesh } from '../../src/model/mesh.js';
import { MeshSnapshotProvider } from '../../src/translate/provider.js';
import { setLogLevel } from '../../src/util/logger.js';
import type { SnapshotProvider } from '../../src/xds/snapshot.js';
import { XdsServer } from '../../src/xds/server.js';
import { TypeUrl, type Listener } from '../../src/xds/types.js';
import { bootstrap, Envoy, freePort, waitFor } from '../support/envoy.js';
import { buildSources, config, type ServiceFixture } from '../support/mesh-fixtures.js';

jest.setTimeout(180_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

const NS = 'default';
const LABELS = { app: 'productpage' };
const NODE_ID = `sidecar~127.0.0.1~productpage-0.${NS}~${NS}.svc.cluster.local`;
const CLUSTER = 'outbound|80||reviews.default.svc.cluster.local';
const JSON_PROVIDER: ExtensionProvider = { name: 'json-stdout', envoyFileAccessLog: { path: '/dev/stdout', logFormat: { labels: {} } } };

let upstreamServer: http.Server;
let server: XdsServer;
let envoy: Envoy;
let current: Mesh;
let testPort: number;
let n = 0;

function meshWith(telemetry?: TelemetrySpec): Mesh {
  const services: ServiceFixture[] = [
    { namespace: NS, name: 'reviews', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80 }], endpoints: [{ address: '127.0.0.2', ports: { http: (upstreamServer.address() as net.AddressInfo).port } }] },
    { namespace: NS, name: 'productpage', clusterIP: '10.96.0.50', ports: [{ name: 'http', port: 9080 }], selector: LABELS, endpoints: [{ address: '127.0.0.1' }] },
  ];
  const { store, registry } = buildSources(services, telemetry ? [config('Telemetry', NS, 'productpage-logs', { selector: { matchLabels: LABELS }, ...telemetry })] : []);
  return new Mesh(store, registry, { extensionProviders: [JSON_PROVIDER] });
}

async function apply(telemetry?: TelemetrySpec): Promise<void> {
  current = meshWith(telemetry);
  await server.push({ reason: 'config' });
}

function get(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: testPort, path, agent: false, timeout: 5000, headers: { host: 'reviews', 'user-agent': 'telemetry-test' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

const lines = (): string[] => envoy.stdoutText().split('\n').filter((l) => l.trim() !== '');

/** Sends fresh requests until one under `prefix` shows in Envoy's stdout; returns that line. */
async function loggedRequest(prefix: string, match: (line: string, path: string) => boolean): Promise<{ line: string; path: string }> {
  return waitFor(`an access log line for ${prefix}`, async () => {
    const path = `${prefix}-${++n}`;
    expect(await get(path)).toBe(200);
    const found = lines().find((l) => l.includes(`${prefix}-`) && match(l, path));
    if (!found) return undefined;
    return { line: found, path: /\/[a-z]+-\d+/.exec(found)?.[0] ?? '' };
  }, 30_000, 200);
}

/** The test listener's HTTP connection manager as Envoy holds it (config_dump). */
async function activeAccessLogs(): Promise<unknown[] | undefined> {
  const dump = (await envoy.configDump()).configs as Array<Record<string, unknown>>;
  const listeners = (dump.find((c) => String(c['@type']).endsWith('ListenersConfigDump'))?.dynamic_listeners ?? []) as Array<{ name: string; active_state?: { listener: { default_filter_chain?: { filters: Array<{ typed_config: { access_log?: unknown[] } }> } } } }>;
  const active = listeners.find((l) => l.name === 'test_80')?.active_state;
  return active ? (active.listener.default_filter_chain?.filters[0]?.typed_config.access_log ?? []) : undefined;
}

beforeAll(async () => {
  upstreamServer = http.createServer((req, res) => res.writeHead(req.url?.startsWith('/missing') ? 404 : 200, { 'content-type': 'text/plain' }).end('reviews'));
  await new Promise<void>((r) => upstreamServer.listen(0, '127.0.0.2', r));
  testPort = await freePort();
  current = meshWith();
  // The proxy's own outbound listener for port 80, bound on loopback: what it logs is what the
  // translation put on it.
  const sidecars = new MeshSnapshotProvider(() => current, { outboundPort: await freePort(), inboundPort: await freePort() });
  const provider: SnapshotProvider = {
    snapshot: (proxy, types) => {
      const s = sidecars.snapshot(proxy, types);
      const listeners = s[TypeUrl.Listener];
      const port80 = listeners?.get('0.0.0.0_80');
      if (!listeners || !port80) return s;
      const test: Listener = { ...port80, name: 'test_80', address: { socket_address: { address: '127.0.0.1', port_value: testPort } }, bind_to_port: undefined };
      return { ...s, [TypeUrl.Listener]: new Map([...listeners, ['test_80', test]]) };
    },
  };
  server = new XdsServer({ provider });
  const boot = bootstrap({ nodeId: NODE_ID, xdsPort: await server.listen('127.0.0.1:0') });
  Object.assign(boot.node as object, { metadata: { LABELS, NAMESPACE: NS } });
  envoy = await Envoy.start(boot);
  await waitFor('the test listener', async () => (await activeAccessLogs()) !== undefined && (await get('/warmup')) === 200, 30_000);
});

afterAll(async () => {
  await envoy?.stop();
  await server?.close();
  await new Promise((r) => upstreamServer?.close(r));
});

test('without a Telemetry the listener has no access log', async () => {
  expect(await activeAccessLogs()).toEqual([]);
});

test("the built-in envoy provider: Istio's text line, with method, path, response code, authority and upstream cluster", async () => {
  await apply({ accessLogging: [{ providers: [{ name: 'envoy' }] }] });
  const { line, path } = await loggedRequest('/text', () => true);
  expect(line).toMatch(new RegExp(`^\\[[0-9T:.Z-]+\\] "GET ${path} HTTP/1\\.1" 200 - via_upstream - "-" 0 7 \\d+ \\d+ "-" "telemetry-test" "[0-9a-f-]+" "reviews" "127\\.0\\.0\\.2:\\d+" ${CLUSTER.replace(/\|/g, '\\|')} `));
});

test("a JSON provider: Istio's labels, one JSON object per line", async () => {
  await apply({ accessLogging: [{ providers: [{ name: 'json-stdout' }] }] });
  const { line } = await loggedRequest('/json', (l) => l.startsWith('{'));
  const entry = JSON.parse(line) as Record<string, unknown>;
  expect(entry).toMatchObject({ method: 'GET', path: expect.stringMatching(/^\/json-\d+$/), response_code: 200, upstream_cluster: CLUSTER, authority: 'reviews', user_agent: 'telemetry-test', protocol: 'HTTP/1.1' });
});

test('a CEL filter: only the requests it selects are logged', async () => {
  await apply({ accessLogging: [{ providers: [{ name: 'envoy' }], filter: { expression: 'response.code >= 400' } }] });
  await waitFor('the filter in Envoy', async () => JSON.stringify(await activeAccessLogs()).includes('response.code >= 400'), 30_000);
  const ok = `/ok-${++n}`;
  expect(await get(ok)).toBe(200);
  const missing = `/missing-${++n}`;
  expect(await get(missing)).toBe(404);
  // Envoy writes the lines in order: once the later one is there, the earlier would be too.
  await waitFor('the failed request logged', () => lines().some((l) => l.includes(`"GET ${missing} HTTP/1.1" 404`)), 30_000);
  expect(lines().filter((l) => l.includes(ok))).toEqual([]);
});

test('disabled: nothing is logged any more', async () => {
  await apply({ accessLogging: [{ providers: [{ name: 'envoy' }], disabled: true }] });
  await waitFor('the listener without access log', async () => JSON.stringify(await activeAccessLogs()) === '[]', 30_000);
  const off = `/off-${++n}`;
  expect(await get(off)).toBe(200);
  // Turned on again, a later request shows up; the one made while off never does.
  await apply({ accessLogging: [{ providers: [{ name: 'envoy' }] }] });
  await loggedRequest('/marker', () => true);
  expect(lines().filter((l) => l.includes(off))).toEqual([]);
});
