// The xDS server with the real Envoy, over ADS in both protocol variants (state of the world and
// delta): configuration arrives and is ACKed, traffic flows through an Envoy listener to a node
// upstream, updates and removals apply, a route moving to a new cluster under continuous traffic
// drops nothing (make-before-break), a configuration Envoy rejects is NACKed, recorded, not
// resent, and Envoy keeps serving the previous one; a control plane restart drops nothing.
import { jest } from '@jest/globals';
import http from 'node:http';
import net from 'node:net';
import { setLogLevel } from '../../src/util/logger.js';
import { StaticSnapshotProvider, type Snapshot } from '../../src/xds/snapshot.js';
import { XdsServer } from '../../src/xds/server.js';
import { freePort, startXdsAndEnvoy, type Envoy } from '../support/envoy.js';
import { edsCluster, endpoints, httpListener, rejectedListener, routeConfiguration } from '../support/envoy-resources.js';
import { TypeUrl } from '../../src/xds/types.js';

const { Cluster, Endpoint, Listener, Route } = TypeUrl;

jest.setTimeout(180_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

// ---- small helpers: upstreams, requests, Envoy's view -------------------------------

/** A tiny upstream answering every request with its name. */
async function upstream(name: string): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name }).end(name));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One GET on a fresh connection (no keep-alive races with listener drains). */
function get(port: number, path = '/'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

/** Sends requests back to back until stopped; counts what was not a 200. */
function traffic(port: number): { stop: () => Promise<{ total: number; failures: string[]; bodies: Map<string, number> }> } {
  let running = true;
  const failures: string[] = [];
  const bodies = new Map<string, number>();
  let total = 0;
  const loop = (async () => {
    while (running) {
      total++;
      try {
        const r = await get(port);
        if (r.status !== 200) failures.push(`${r.status} ${r.headers['x-envoy-response-flags'] ?? ''} ${r.body.slice(0, 80)}`);
        else bodies.set(r.body, (bodies.get(r.body) ?? 0) + 1);
      } catch (err) {
        failures.push(String(err));
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { total, failures, bodies };
    },
  };
}

type Dump = Array<Record<string, unknown> & { '@type': string }>;

function section<T>(dump: Dump, type: string, field: string): T[] {
  const c = dump.find((x) => x['@type'] === `type.googleapis.com/envoy.admin.v3.${type}`);
  return ((c?.[field] as T[] | undefined) ?? []) as T[];
}

async function envoyView(envoy: Envoy) {
  const dump = (await envoy.configDump('?include_eds')).configs as Dump;
  const clusters = section<{ cluster: { name: string } }>(dump, 'ClustersConfigDump', 'dynamic_active_clusters').map((c) => c.cluster.name).sort();
  const listeners = section<{ name: string; active_state?: { version_info: string; listener: { address: { socket_address: { port_value: number } } } }; error_state?: { details: string } }>(
    dump,
    'ListenersConfigDump',
    'dynamic_listeners',
  );
  const routes = section<{ route_config: { name: string; virtual_hosts: Array<{ routes: Array<{ route: { cluster?: string } }> }> } }>(dump, 'RoutesConfigDump', 'dynamic_route_configs');
  const eps = section<{ endpoint_config: { cluster_name: string; endpoints?: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { port_value: number } } } }> }> } }>(
    dump,
    'EndpointsConfigDump',
    'dynamic_endpoint_configs',
  );
  return {
    clusters,
    listeners: listeners.filter((l) => l.active_state).map((l) => l.name).sort(),
    listener: (name: string) => listeners.find((l) => l.name === name),
    routeCluster: (name: string) => routes.find((r) => r.route_config.name === name)?.route_config.virtual_hosts[0]?.routes[0]?.route.cluster,
    endpointPorts: (cluster: string) =>
      eps.find((e) => e.endpoint_config.cluster_name === cluster)?.endpoint_config.endpoints?.flatMap((l) => l.lb_endpoints.map((x) => x.endpoint.address.socket_address.port_value)) ?? [],
  };
}

// ---- the scenarios, once per protocol variant ---------------------------------------------

describe.each([['state of the world', 'GRPC'] as const, ['delta', 'DELTA_GRPC'] as const])('Envoy over ADS, %s', (_name, apiType) => {
  const nodeId = `sidecar~127.0.0.1~envoy-${apiType.toLowerCase()}.default~default.svc.cluster.local`;
  let server: XdsServer;
  let provider: StaticSnapshotProvider;
  let envoy: Envoy;
  let xdsPort: number;
  let listenPort: number;
  let a: Awaited<ReturnType<typeof upstream>>;
  let b: Awaited<ReturnType<typeof upstream>>;

  const config = (over: Partial<Record<TypeUrl, Map<string, unknown>>> = {}): Snapshot =>
    ({
      [Cluster]: new Map([['a', edsCluster('a')]]),
      [Endpoint]: new Map([['a', endpoints('a', [{ host: '127.0.0.1', port: a.port }])]]),
      [Listener]: new Map([['http', httpListener('http', listenPort, 'r')]]),
      [Route]: new Map([['r', routeConfiguration('r', [{ prefix: '/', cluster: 'a' }])]]),
      ...over,
    }) as Snapshot;

  async function apply(snapshot: Snapshot): Promise<void> {
    provider.set(snapshot);
    await server.push({ reason: 'config' });
  }

  const eventually = <T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> => envoy.eventually(what, fn);

  beforeAll(async () => {
    a = await upstream('A');
    b = await upstream('B');
    listenPort = await freePort();
    provider = new StaticSnapshotProvider();
    provider.set(config());
    ({ server, xdsPort, envoy } = await startXdsAndEnvoy(provider, { nodeId, apiType }));
  });

  afterAll(async () => {
    await envoy?.stop();
    await server?.close();
    await a?.close();
    await b?.close();
  });

  test('Envoy connects and ACKs clusters, endpoints, listeners and routes', async () => {
    const view = await eventually('the config in Envoy', async () => {
      const v = await envoyView(envoy);
      return v.clusters.includes('a') && v.listeners.includes('http') && v.routeCluster('r') === 'a' && v.endpointPorts('a').includes(a.port) ? v : undefined;
    });
    expect(view.listener('http')?.active_state?.listener.address.socket_address.port_value).toBe(listenPort);
    expect(await envoy.stat('control_plane.connected_state')).toBe(1);
    const proxy = server.registry.get(nodeId);
    expect(proxy?.info).toMatchObject({ kind: 'sidecar', podName: `envoy-${apiType.toLowerCase()}`, namespace: 'default' });
    // Every type ACKed, nothing in flight.
    await eventually('ACKs for every type', async () => {
      const types = proxy?.status().streams[0]?.types ?? [];
      return types.length === 4 && types.every((t) => t.ackedVersion !== '' && t.inflightNonce === undefined);
    });
    expect(proxy?.status().streams[0].protocol).toBe(apiType === 'GRPC' ? 'sotw' : 'delta');
  });

  test('a request through the Envoy listener reaches the upstream', async () => {
    const r = await eventually('an answer from A', async () => {
      const x = await get(listenPort).catch(() => undefined);
      return x?.status === 200 ? x : undefined;
    });
    expect(r.body).toBe('A');
  });

  test('an update (new endpoints, then a route change) reaches Envoy and traffic follows', async () => {
    await apply(config({ [Endpoint]: new Map([['a', endpoints('a', [{ host: '127.0.0.1', port: b.port }])]]) }));
    await eventually('traffic on B', async () => (await get(listenPort)).body === 'B');
    expect((await envoyView(envoy)).endpointPorts('a')).toEqual([b.port]);
    await apply(config({ [Route]: new Map([['r', routeConfiguration('r', [{ prefix: '/', cluster: 'a', responseHeader: ['x-route', 'v2'] }])]]) }));
    const r = await eventually('the new route', async () => {
      const x = await get(listenPort);
      return x.headers['x-route'] === 'v2' ? x : undefined;
    });
    expect(r.body).toBe('A');
  });

  test('a cluster updated in place (same endpoints) keeps its endpoints: traffic never stops', async () => {
    await eventually('steady on A', async () => (await get(listenPort)).body === 'A' && (await envoyView(envoy)).routeCluster('r') === 'a');
    const load = traffic(listenPort);
    // Only the cluster changes (as when its TLS settings or peer identities change): Envoy
    // re-creates it, and the new cluster needs an EDS response for the unchanged assignment.
    await apply(config({ [Cluster]: new Map([['a', { ...edsCluster('a'), connect_timeout: { seconds: 3, nanos: 0 } }]]) }));
    await eventually('the updated cluster', async () => JSON.stringify((await envoy.configDump('?resource=dynamic_active_clusters')).configs).includes('"connect_timeout":"3s"'));
    await new Promise((r) => setTimeout(r, 1500));
    const { total, failures } = await load.stop();
    expect(total).toBeGreaterThan(10);
    expect(failures).toEqual([]);
    expect(envoy.log).not.toContain('initial fetch timed out for type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment');
    await apply(config());
  });

  test('a new cluster and a route moved to it in one change, and back, under traffic: zero failed requests', async () => {
    await eventually('steady on A', async () => (await get(listenPort)).body === 'A' && (await envoyView(envoy)).routeCluster('r') === 'a');
    const load = [traffic(listenPort), traffic(listenPort), traffic(listenPort)];
    for (let round = 0; round < 3; round++) {
      await apply(
        config({
          [Cluster]: new Map([['a', edsCluster('a')], ['b', edsCluster('b')]]),
          [Endpoint]: new Map([['a', endpoints('a', [{ host: '127.0.0.1', port: a.port }])], ['b', endpoints('b', [{ host: '127.0.0.1', port: b.port }])]]),
          [Route]: new Map([['r', routeConfiguration('r', [{ prefix: '/', cluster: 'b' }])]]),
        }),
      );
      await eventually('traffic on B', async () => (await get(listenPort)).body === 'B');
      await apply(config());
      await eventually('traffic back on A and b removed', async () => (await get(listenPort)).body === 'A' && !(await envoyView(envoy)).clusters.includes('b'));
    }
    const results = await Promise.all(load.map((l) => l.stop()));
    expect(results.flatMap((r) => r.failures)).toEqual([]);
    expect(results.reduce((n, r) => n + r.total, 0)).toBeGreaterThan(30);
    expect(results.reduce((n, r) => n + (r.bodies.get('B') ?? 0), 0)).toBeGreaterThan(0);
  });

  test('a removed listener and cluster are removed from Envoy', async () => {
    const extraPort = await freePort();
    const extra = (): Snapshot =>
      config({
        [Cluster]: new Map([['a', edsCluster('a')], ['c', edsCluster('c')]]),
        [Endpoint]: new Map([['a', endpoints('a', [{ host: '127.0.0.1', port: a.port }])], ['c', endpoints('c', [{ host: '127.0.0.1', port: b.port }])]]),
        [Listener]: new Map([['http', httpListener('http', listenPort, 'r')], ['extra', httpListener('extra', extraPort, 'r2')]]),
        [Route]: new Map([['r', routeConfiguration('r', [{ prefix: '/', cluster: 'a' }])], ['r2', routeConfiguration('r2', [{ prefix: '/', cluster: 'c' }])]]),
      });
    await apply(extra());
    await eventually('extra serving from c', async () => (await get(extraPort).catch(() => undefined))?.body === 'B');
    await apply(config());
    await eventually('extra and c gone', async () => {
      const v = await envoyView(envoy);
      return !v.listeners.includes('extra') && !v.clusters.includes('c');
    });
    await eventually('nothing on the extra port', async () => (await get(extraPort).then(() => false).catch(() => true)) as boolean);
    expect((await get(listenPort)).body).toBe('A');
  });

  test('a listener Envoy rejects is NACKed and recorded; Envoy keeps the previous one; it is not resent', async () => {
    const rejectedBefore = await envoy.stat('listener_manager.lds.update_rejected');
    const nacksBefore = server.registry.get(nodeId)?.nacks.length ?? 0;
    const goodVersion = (await envoyView(envoy)).listener('http')?.active_state?.version_info;
    await apply(config({ [Listener]: new Map([['http', rejectedListener('http', listenPort, 'r')]]) }));
    const nack = await eventually('the NACK recorded', async () => server.registry.get(nodeId)?.nacks[nacksBefore]);
    expect(nack).toMatchObject({ typeUrl: Listener, rejected: ['http'] });
    expect(nack.message).toMatch(/stat_prefix|StatPrefix/);
    await eventually('Envoy counts the rejection', async () => (await envoy.stat('listener_manager.lds.update_rejected')) === rejectedBefore + 1);
    // Envoy still runs the previous listener, and traffic flows.
    expect((await envoyView(envoy)).listener('http')?.active_state?.version_info).toBe(goodVersion);
    expect((await get(listenPort)).body).toBe('A');
    const rejected = server.registry.get(nodeId)?.status().streams[0].types.find((t) => t.typeUrl === Listener)?.rejected ?? [];
    expect(rejected.map((r) => r.name)).toEqual(['http']);

    // More pushes, some changing listeners: the rejected listener is never sent again.
    const attempts = await envoy.stat('listener_manager.lds.update_attempt');
    const extraPort = await freePort();
    const withBad = (extraListeners: Array<[string, number]>): Snapshot =>
      config({
        [Listener]: new Map([['http', rejectedListener('http', listenPort, 'r')], ...extraListeners.map(([n, p]) => [n, httpListener(n, p, 'r')] as const)]),
        [Endpoint]: new Map([['a', endpoints('a', [{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: a.port + 0 }])]]),
      });
    await apply(withBad([['second', extraPort]]));
    await eventually('second listener', async () => (await envoyView(envoy)).listeners.includes('second'));
    await apply(withBad([]));
    await eventually('second gone', async () => !(await envoyView(envoy)).listeners.includes('second'));
    await new Promise((r) => setTimeout(r, 1500)); // a resend loop would show up here
    expect(await envoy.stat('listener_manager.lds.update_rejected')).toBe(rejectedBefore + 1);
    expect(await envoy.stat('listener_manager.lds.update_attempt')).toBe(attempts + 2);
    expect((await get(listenPort)).body).toBe('A');

    // A fixed listener is accepted.
    await apply(config({ [Listener]: new Map([['http', httpListener('http', listenPort, 'r')]]) }));
    await new Promise((r) => setTimeout(r, 500));
    expect(await envoy.stat('listener_manager.lds.update_rejected')).toBe(rejectedBefore + 1);
    expect((await get(listenPort)).body).toBe('A');
  });

  test('restarting the control plane: Envoy keeps serving, reconnects and resyncs, zero failed requests', async () => {
    const load = traffic(listenPort);
    const connectsBefore = await envoy.stat('control_plane.connected_state');
    expect(connectsBefore).toBe(1);
    await server.close();
    await eventually('Envoy notices', async () => (await envoy.stat('control_plane.connected_state')) === 0);
    await new Promise((r) => setTimeout(r, 500));
    server = new XdsServer({ provider });
    await server.listen(`127.0.0.1:${xdsPort}`);
    await eventually('Envoy reconnected', async () => (await envoy.stat('control_plane.connected_state')) === 1 && server.registry.get(nodeId));
    // Resynced: every type known to be in Envoy, nothing in flight. (Over delta, what Envoy
    // reports it has and is unchanged is not even sent again.)
    await eventually('resynced', async () => {
      const types = server.registry.get(nodeId)?.status().streams[0]?.types ?? [];
      return types.length === 4 && types.every((t) => t.acked > 0 && t.inflightNonce === undefined);
    });
    const result = await load.stop();
    expect(result.failures).toEqual([]);
    expect(result.total).toBeGreaterThan(10);
    expect((await envoyView(envoy)).routeCluster('r')).toBe('a');
  });
});
