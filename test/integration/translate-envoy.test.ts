// The sidecar translation with the real Envoy: the whole snapshot of a sidecar passes
// `envoy --mode validate`, Envoy takes it over ADS from the xDS server with nothing rejected
// (config_dump shows Istio's listeners, clusters and routes), and traffic through the
// translated routes behaves as the VirtualService says: an 80/20 weighted split between two
// subsets, and a header match to one subset. Upstreams are node HTTP servers on 127.0.0.x.
import { jest } from '@jest/globals';
import http from 'node:http';
import net from 'node:net';
import type { AnyConfig } from '../../src/model/config-store.js';
import { httpConnectionManagerFilter } from '../../src/translate/filters.js';
import { MeshSnapshotProvider } from '../../src/translate/provider.js';
import { sidecarSnapshot } from '../../src/translate/snapshot.js';
import type { Mesh } from '../../src/model/mesh.js';
import { buildMesh, config, sidecar, type ServiceFixture } from '../support/mesh-fixtures.js';
import { goldenCaseNames, goldenSnapshot, loadGoldenCase } from '../support/golden-cases.js';
import { setLogLevel } from '../../src/util/logger.js';
import { EncodedResource } from '../../src/xds/encoded-resource.js';
import { encodeMessage } from '../../src/xds/protos.js';
import type { Snapshot, SnapshotProvider } from '../../src/xds/snapshot.js';
import { XdsServer } from '../../src/xds/server.js';
import { bootstrap, Envoy, freePort, staticResourcesBootstrap, validateBootstrap, waitFor } from '../support/envoy.js';
import { messageName, TypeUrl, type Listener, type ResourceOf } from '../../src/xds/types.js';
import { makeServingCert } from '../support/certs.js';
import fs from 'node:fs';
import path from 'node:path';

jest.setTimeout(180_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

const NS = 'default';
const NODE_ID = `sidecar~127.0.0.1~productpage-0.${NS}~${NS}.svc.cluster.local`;


/** An upstream on `host` answering with its name (and the request headers it saw as x-seen-*). */
async function upstream(name: string, host: string): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name, 'x-seen-path': req.url ?? '' }).end(name));
  await new Promise<void>((r) => server.listen(0, host, r));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function get(port: number, host: string, headers: Record<string, string> = {}, path = '/'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 5000, headers: { host, ...headers } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

function encoded<T extends TypeUrl>(t: T, name: string, msg: ResourceOf[T]): EncodedResource {
  return new EncodedResource(t, name, encodeMessage(messageName(t), msg));
}

type Dump = Array<Record<string, unknown> & { '@type': string }>;
function section<T>(dump: Dump, type: string, field: string): T[] {
  const c = dump.find((x) => x['@type'] === `type.googleapis.com/envoy.admin.v3.${type}`);
  return ((c?.[field] as T[] | undefined) ?? []) as T[];
}

/** `envoy --mode validate` on a whole snapshot: listeners and clusters as static resources, each route configuration inline in a listener of its own. */
async function validateSnapshot(snapshot: Snapshot): Promise<{ code: number; output: string }> {
  const listeners = [...(snapshot[TypeUrl.Listener]?.values() ?? [])];
  const clusters = [...(snapshot[TypeUrl.Cluster]?.values() ?? [])];
  const routeListeners: Listener[] = [...(snapshot[TypeUrl.Route]?.values() ?? [])].map((rc, i) => ({
    name: `validate_route_${rc.name}`,
    address: { socket_address: { address: '127.0.0.1', port_value: 30000 + i } },
    filter_chains: [{ filters: [httpConnectionManagerFilter(`validate_${rc.name}`, rc, 'outbound')] }],
  }));
  return validateBootstrap({
    binary: staticResourcesBootstrap({
      listeners: [...listeners, ...routeListeners].map((l) => encoded(TypeUrl.Listener, l.name ?? '', l)),
      clusters: clusters.map((c) => encoded(TypeUrl.Cluster, c.name ?? '', c)),
    }),
    json: bootstrap({ nodeId: NODE_ID, xdsPort: 15010 }),
  });
}

// Proxyless cases are for gRPC's xDS client, not Envoy (an API listener per service): left out.
describe('the golden sidecar and gateway cases (test/fixtures/golden/) pass envoy --mode validate', () => {
  const certs = makeServingCert(['DNS:api.example.com', 'DNS:cart.internal']);
  // The certificate files the cases' DestinationRules name, as real files.
  const files = { '/certs/ca.pem': path.join(certs.dir, 'ca.crt'), '/certs/cert.pem': path.join(certs.dir, 'tls.crt'), '/certs/key.pem': path.join(certs.dir, 'tls.key') };
  afterAll(() => fs.rmSync(certs.dir, { recursive: true, force: true }));
  const cases = goldenCaseNames()
    .map((n) => loadGoldenCase(n, { files }))
    .filter((c) => c.proxy.kind === 'sidecar' || c.proxy.kind === 'router');

  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const r = await validateSnapshot(goldenSnapshot(c));
    expect(r.output).toMatch(/OK/);
    expect(r.code).toBe(0);
  });
});

describe('sidecar translation with the real Envoy', () => {
  let v1: Awaited<ReturnType<typeof upstream>>;
  let v2: Awaited<ReturnType<typeof upstream>>;
  let server: XdsServer;
  let envoy: Envoy;
  let current: Mesh;
  let testPort: number;
  let snapshot: Snapshot;
  let options: { outboundPort: number; inboundPort: number };

  function mesh(configs: AnyConfig[]) {
    const services: ServiceFixture[] = [
      {
        namespace: NS,
        name: 'reviews',
        clusterIP: '10.96.0.10',
        ports: [{ name: 'http', port: 80, targetPort: 9080 }],
        endpoints: [
          { address: '127.0.0.2', ports: { http: v1.port }, labels: { app: 'reviews', version: 'v1' }, region: 'r1', zone: 'z1' },
          { address: '127.0.0.3', ports: { http: v2.port }, labels: { app: 'reviews', version: 'v2' }, region: 'r1', zone: 'z2' },
          { address: '127.0.0.4', ports: { http: 1 }, labels: { app: 'reviews', version: 'v3' }, ready: false },
        ],
      },
      { namespace: NS, name: 'ratings', clusterIP: '10.96.0.20', ports: [{ name: 'tcp-db', port: 9000 }], endpoints: [{ address: '127.0.0.5', labels: { app: 'ratings' } }] },
      { namespace: NS, name: 'grpc-api', clusterIP: '10.96.0.30', ports: [{ name: 'grpc', port: 7070 }], endpoints: [] },
      { namespace: 'other', name: 'details', clusterIP: '10.96.0.40', ports: [{ name: 'http', port: 80 }, { name: 'http-admin', port: 8081, appProtocol: 'http' }], endpoints: [] },
      { namespace: NS, name: 'secure', clusterIP: '10.96.0.60', ports: [{ name: 'https', port: 443 }], endpoints: [{ address: '127.0.0.6' }] },
      { namespace: NS, name: 'productpage', clusterIP: '10.96.0.50', ports: [{ name: 'http', port: 9080 }, { name: 'tcp', port: 9090 }], selector: { app: 'productpage' }, endpoints: [{ address: '127.0.0.1' }] },
    ];
    return buildMesh(services, configs);
  }

  const configs = (): AnyConfig[] => [
    config('DestinationRule', NS, 'reviews', {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: { simple: 'ROUND_ROBIN' },
        connectionPool: { tcp: { maxConnections: 100, connectTimeout: '2s' }, http: { http1MaxPendingRequests: 100, maxRequestsPerConnection: 10 } },
        outlierDetection: { consecutive5xxErrors: 7, interval: '5s', baseEjectionTime: '30s', maxEjectionPercent: 50 },
      },
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' }, trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } },
      ],
    }),
    config('DestinationRule', 'other', 'details', { host: 'details', trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } } }),
    config('VirtualService', NS, 'reviews', {
      hosts: ['reviews'],
      http: [
        { name: 'jason', match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }], headers: { response: { set: { 'x-route': 'jason' } } } },
        { name: 'rewrite', match: [{ uri: { prefix: '/old/' } }], rewrite: { uri: '/new/' }, route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
        { name: 'teapot', match: [{ uri: { exact: '/teapot' } }], directResponse: { status: 418, body: { string: 'short and stout' } } },
        { name: 'moved', match: [{ uri: { exact: '/moved' } }], redirect: { uri: '/new-home', redirectCode: 302 } },
        {
          name: 'split',
          route: [
            { destination: { host: 'reviews', subset: 'v1' }, weight: 80 },
            { destination: { host: 'reviews', subset: 'v2' }, weight: 20 },
          ],
          retries: { attempts: 3, perTryTimeout: '2s' },
          timeout: '10s',
        },
      ],
    }),
    config('ServiceEntry', NS, 'external-api', {
      hosts: ['api.internal.example'],
      ports: [{ number: 443, name: 'tls', protocol: 'TLS' }],
      resolution: 'STATIC',
      location: 'MESH_EXTERNAL',
      endpoints: [{ address: '127.0.0.9' }],
    }),
    config('ServiceEntry', NS, 'wikipedia', { hosts: ['*.wikipedia.org'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }, { number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'NONE' }),
    config('VirtualService', NS, 'secure', {
      hosts: ['secure'],
      tls: [{ match: [{ sniHosts: ['secure.default.svc.cluster.local', 'secure'] }], route: [{ destination: { host: 'secure' }, weight: 90 }, { destination: { host: 'api.internal.example' }, weight: 10 }] }],
    }),
    config('VirtualService', NS, 'ratings', { hosts: ['ratings'], tcp: [{ route: [{ destination: { host: 'ratings' } }] }] }),
  ];

  beforeAll(async () => {
    v1 = await upstream('v1', '127.0.0.2');
    v2 = await upstream('v2', '127.0.0.3');
    testPort = await freePort();
    options = { outboundPort: await freePort(), inboundPort: await freePort() };
    current = mesh(configs());
    snapshot = sidecarSnapshot(current, { ...sidecar(NS, { app: 'productpage', version: 'v1' }, '127.0.0.1'), locality: { region: 'r1', zone: 'z1', subZone: '' } }, options);
    // A bound listener on loopback sharing the outbound route configuration of port 80: the
    // test's stand-in for an app's connection that iptables would capture.
    const testListener: Listener = {
      name: 'test_80',
      address: { socket_address: { address: '127.0.0.1', port_value: testPort } },
      filter_chains: [{ filters: [httpConnectionManagerFilter('test_80', '80', 'outbound')] }],
    };
    // The real provider, translating per proxy from its node (id and LABELS), plus the test listener.
    const sidecars = new MeshSnapshotProvider(() => current, options);
    const provider: SnapshotProvider = {
      snapshot: (proxy, types) => {
        const s = sidecars.snapshot(proxy, types);
        const listeners = s[TypeUrl.Listener];
        return listeners ? { ...s, [TypeUrl.Listener]: new Map([...listeners, [testListener.name ?? '', testListener]]) } : s;
      },
    };
    server = new XdsServer({ provider });
    const xdsPort = await server.listen('127.0.0.1:0');
    const boot = bootstrap({ nodeId: NODE_ID, xdsPort });
    Object.assign(boot.node as object, { metadata: { LABELS: { app: 'productpage', version: 'v1' }, NAMESPACE: NS }, locality: { region: 'r1', zone: 'z1' } });
    envoy = await Envoy.start(boot);
  });

  afterAll(async () => {
    await envoy?.stop();
    await server?.close();
    await v1?.close();
    await v2?.close();
  });

  async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> {
    try {
      return await waitFor(what, fn, 30_000);
    } catch (err) {
      throw new Error(`${String(err)}\n--- envoy log ---\n${envoy.log.slice(-4000)}`, { cause: err });
    }
  }

  test('envoy --mode validate accepts every listener, cluster and route configuration of the snapshot', async () => {
    const r = await validateSnapshot(snapshot);
    expect(r.output).toMatch(/OK/);
    expect(r.code).toBe(0);
  });

  test('Envoy ACKs everything: config_dump shows the listeners, clusters, routes and endpoints', async () => {
    const expectedClusters = [...(snapshot[TypeUrl.Cluster]?.keys() ?? [])].sort();
    const expectedListeners = [...(snapshot[TypeUrl.Listener]?.keys() ?? []), 'test_80'].sort();
    const view = await eventually('the whole snapshot in Envoy', async () => {
      const dump = (await envoy.configDump('?include_eds')).configs as Dump;
      const clusters = section<{ cluster: { name: string } }>(dump, 'ClustersConfigDump', 'dynamic_active_clusters').map((c) => c.cluster.name).sort();
      const listeners = section<{ name: string; active_state?: unknown; error_state?: { details: string } }>(dump, 'ListenersConfigDump', 'dynamic_listeners');
      const routes = section<{ route_config: { name: string } }>(dump, 'RoutesConfigDump', 'dynamic_route_configs').map((r) => r.route_config.name).sort();
      const eps = section<{ endpoint_config: { cluster_name: string; endpoints?: Array<{ lb_endpoints: unknown[]; priority?: number; locality?: { zone: string } }> } }>(dump, 'EndpointsConfigDump', 'dynamic_endpoint_configs');
      const active = listeners.filter((l) => l.active_state).map((l) => l.name).sort();
      const errors = listeners.filter((l) => l.error_state).map((l) => `${l.name}: ${l.error_state?.details}`);
      if (errors.length > 0) throw new Error(`listeners rejected: ${errors.join('; ')}`);
      return JSON.stringify(active) === JSON.stringify(expectedListeners) && expectedClusters.every((c) => clusters.includes(c)) && routes.includes('80') ? { clusters, routes, eps } : undefined;
    });
    // Outbound route tables by port; inbound routes of the proxy's own HTTP port (RDS).
    expect(view.routes).toEqual(['7070', '80', '8081', '9080', 'inbound|9080||']);
    expect(view.clusters).toEqual(expect.arrayContaining(['outbound|80||reviews.default.svc.cluster.local', 'outbound|80|v1|reviews.default.svc.cluster.local', 'PassthroughCluster', 'BlackHoleCluster', 'inbound|9080||', 'inbound|9090||']));
    const ep = (name: string) => view.eps.find((e) => e.endpoint_config.cluster_name === name)?.endpoint_config.endpoints?.flatMap((l) => l.lb_endpoints).length ?? 0;
    await eventually('endpoints of the subsets', async () => ep('outbound|80|v1|reviews.default.svc.cluster.local') === 1 || undefined);
    // Locality failover (the DestinationRule has outlier detection): the proxy's zone first.
    const groups = view.eps.find((e) => e.endpoint_config.cluster_name === 'outbound|80||reviews.default.svc.cluster.local')?.endpoint_config.endpoints ?? [];
    expect(groups.map((g) => [g.locality?.zone, g.priority ?? 0])).toEqual([
      ['z1', 0],
      ['z2', 1],
    ]);
    // Nothing NACKed: every type has an ACKed version and no error.
    const proxy = server.registry.get(NODE_ID);
    await eventually('ACKs for every type', async () => {
      const types = proxy?.status().streams[0]?.types ?? [];
      return types.length === 4 && types.every((t) => t.ackedVersion !== '' && t.inflightNonce === undefined);
    });
    expect(await envoy.stat('listener_manager.lds.update_rejected')).toBe(0);
    expect(await envoy.stat('cluster_manager.cds.update_rejected')).toBe(0);
  });

  test('a header match routes every request to v2', async () => {
    await eventually('an answer on the test listener', async () => (await get(testPort, 'reviews').catch(() => undefined))?.status === 200);
    for (let i = 0; i < 20; i++) {
      const r = await get(testPort, 'reviews', { 'end-user': 'jason' });
      expect(r.status).toBe(200);
      expect(r.body).toBe('v2');
      expect(r.headers['x-route']).toBe('jason');
    }
  });

  test('the 80/20 weighted split holds over 1,000 requests, for every name form of the host', async () => {
    const hosts = ['reviews', 'reviews:80', 'reviews.default', 'reviews.default.svc', 'reviews.default.svc.cluster.local:80', '10.96.0.10'];
    const counts = new Map<string, number>();
    const N = 1000;
    for (let i = 0; i < N; i++) {
      const r = await get(testPort, hosts[i % hosts.length]);
      expect(r.status).toBe(200);
      counts.set(r.body, (counts.get(r.body) ?? 0) + 1);
    }
    // Expected 800 v1 / 200 v2; binomial sd ≈ 12.6, so ±80 is over 6 sd.
    expect(counts.get('v1') ?? 0).toBeGreaterThanOrEqual(720);
    expect(counts.get('v1') ?? 0).toBeLessThanOrEqual(880);
    expect((counts.get('v1') ?? 0) + (counts.get('v2') ?? 0)).toBe(N);
  });

  test('rewrite, direct response and redirect behave as the VirtualService says', async () => {
    const rw = await get(testPort, 'reviews', {}, '/old/page');
    expect(rw.body).toBe('v1');
    expect(rw.headers['x-seen-path']).toBe('/new/page');
    const tea = await get(testPort, 'reviews', {}, '/teapot');
    expect(tea.status).toBe(418);
    expect(tea.body).toBe('short and stout');
    const moved = await get(testPort, 'reviews', {}, '/moved');
    expect(moved.status).toBe(302);
    expect(moved.headers.location).toBe('http://reviews/new-home');
  });

  test('an unknown host goes to PassthroughCluster (ALLOW_ANY), not to a service', async () => {
    const before = await envoy.stat('cluster.PassthroughCluster.upstream_cx_none_healthy');
    const r = await get(testPort, 'unknown.example.com');
    // PassthroughCluster connects to the original destination, which only a captured
    // connection has (iptables + use_original_dst); on the test listener it has none.
    expect(r.status).toBe(503);
    expect(['v1', 'v2']).not.toContain(r.body);
    expect(await envoy.stat('cluster.PassthroughCluster.upstream_cx_none_healthy')).toBe(before + 1);
  });

  test('a VirtualService change reaches Envoy on the next push and traffic follows', async () => {
    const next = configs().map((c) =>
      c.kind === 'VirtualService' && c.name === 'reviews' ? { ...c, resourceVersion: 'next', spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v2' } }] }] } } : c,
    );
    current = mesh(next);
    await server.push({ reason: 'config' });
    await eventually('all traffic on v2', async () => {
      for (let i = 0; i < 20; i++) if ((await get(testPort, 'reviews')).body !== 'v2') return undefined;
      return true;
    });
  });
});
