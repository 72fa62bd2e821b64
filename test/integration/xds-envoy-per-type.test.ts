// Envoy on the per-type discovery services (one gRPC stream per resource type, no ADS), state of
// the world and delta: the same server logic, one proxy with four streams.
import { jest } from '@jest/globals';
import http from 'node:http';
import net from 'node:net';
import { setLogLevel } from '../../src/util/logger.js';
import { StaticSnapshotProvider } from '../../src/xds/snapshot.js';
import type { XdsServer } from '../../src/xds/server.js';
import { freePort, startXdsAndEnvoy, waitFor, XDS_CLUSTER, type Envoy } from '../support/envoy.js';
import { configSource, edsCluster, endpoints, httpListener, routeConfiguration } from '../support/envoy-resources.js';
import { TypeUrl } from '../../src/xds/types.js';

const { Cluster, Endpoint, Listener, Route } = TypeUrl;

jest.setTimeout(120_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 5000 }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe.each([['state of the world', 'GRPC'] as const, ['delta', 'DELTA_GRPC'] as const])('Envoy on the per-type services, %s', (_name, apiType) => {
  const nodeId = `sidecar~127.0.0.1~per-type-${apiType.toLowerCase()}.default~default.svc.cluster.local`;
  let server: XdsServer;
  let envoy: Envoy;
  let upstream: http.Server;
  let listenPort: number;

  beforeAll(async () => {
    upstream = http.createServer((_q, res) => res.end('hello'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upstreamPort = (upstream.address() as net.AddressInfo).port;
    listenPort = await freePort();
    const source = configSource({ grpcCluster: XDS_CLUSTER, apiType });
    const provider = new StaticSnapshotProvider({
      [Cluster]: new Map([['a', edsCluster('a', source)]]),
      [Endpoint]: new Map([['a', endpoints('a', [{ host: '127.0.0.1', port: upstreamPort }])]]),
      [Listener]: new Map([['http', httpListener('http', listenPort, 'r', { source })]]),
      [Route]: new Map([['r', routeConfiguration('r', [{ prefix: '/', cluster: 'a' }])]]),
    });
    ({ server, envoy } = await startXdsAndEnvoy(provider, { nodeId, apiType, ads: false }));
  });

  afterAll(async () => {
    await envoy?.stop();
    await server?.close();
    await new Promise((r) => upstream?.close(r));
  });

  test('configuration arrives on four streams of one proxy and traffic flows', async () => {
    const reply = await waitFor('an answer through Envoy', async () => {
      const r = await get(listenPort).catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    });
    expect(reply.body).toBe('hello');
    const proxy = server.registry.get(nodeId);
    const streams = proxy?.status().streams ?? [];
    expect(streams.map((s) => s.service).sort()).toEqual(['cds', 'eds', 'lds', 'rds']);
    expect(new Set(streams.map((s) => s.protocol))).toEqual(new Set([apiType === 'GRPC' ? 'sotw' : 'delta']));
  });
});
