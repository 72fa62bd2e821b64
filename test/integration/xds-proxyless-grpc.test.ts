// Proxyless gRPC: an @grpc/grpc-js-xds client (a second, independent xDS client) resolves
// `xds:///echo.default.svc.cluster.local:7070` through Trellis' xDS server and calls a gRPC
// echo server on loopback. The client speaks state-of-the-world ADS with named subscriptions
// only and wants an api_listener; Trellis serves it from the proxyless generator, chosen by the
// node's metadata GENERATOR=grpc. An endpoint change moves its calls to another server; a
// service that goes away makes its calls fail.
import { jest } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { isProxyless, proxylessClusterName, proxylessListenerName, proxylessSnapshot, type ProxylessService } from '../../src/translate/proxyless-grpc.js';
import { setLogLevel } from '../../src/util/logger.js';
import type { ProxyInfo } from '../../src/xds/proxy-info.js';
import type { Snapshot, SnapshotProvider } from '../../src/xds/snapshot.js';
import { XdsServer } from '../../src/xds/server.js';
import { waitFor } from '../support/envoy.js';
import { TypeUrl } from '../../src/xds/types.js';

jest.setTimeout(60_000);

const ECHO_PROTO = `
syntax = "proto3";
package trellis.test;
message EchoRequest { string message = 1; }
message EchoReply { string message = 1; string server = 2; }
service Echo { rpc Echo (EchoRequest) returns (EchoReply); }
`;

interface EchoReply {
  message: string;
  server: string;
}
type EchoClient = grpc.Client & {
  Echo(req: { message: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r?: EchoReply) => void): void;
};

const packageDefinition = protoLoader.fromJSON(protobuf.parse(ECHO_PROTO, { keepCase: true }).root.toJSON(), { keepCase: true });
const echoPackage = grpc.loadPackageDefinition(packageDefinition) as unknown as {
  trellis: { test: { Echo: grpc.ServiceClientConstructor } };
};
const EchoService = echoPackage.trellis.test.Echo;

/** A gRPC echo server on loopback that says who answered. */
async function echoServer(name: string): Promise<{ port: number; server: grpc.Server }> {
  const server = new grpc.Server();
  server.addService(EchoService.service, {
    Echo: (call: grpc.ServerUnaryCall<{ message: string }, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => cb(null, { message: call.request.message, server: name }),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, server };
}

function echo(client: EchoClient, message: string): Promise<EchoReply> {
  return new Promise((resolve, reject) =>
    client.Echo({ message }, { deadline: Date.now() + 5000 }, (err, r) => (err || !r ? reject(err ?? new Error('no reply')) : resolve(r))),
  );
}

const HOST = 'echo.default.svc.cluster.local';
const SERVICE_PORT = 7070;
const NODE_ID = `sidecar~127.0.0.1~echo-client-0.default~default.svc.cluster.local`;

/** What Trellis' control plane does: the proxyless generator for GENERATOR=grpc, else nothing here. */
class ProxylessProvider implements SnapshotProvider {
  readonly seen: ProxyInfo[] = [];
  constructor(public services: ProxylessService[]) {}
  snapshot(proxy: ProxyInfo): Snapshot {
    this.seen.push(proxy);
    return isProxyless(proxy) ? proxylessSnapshot(this.services) : {};
  }
}

describe('proxyless gRPC client (@grpc/grpc-js-xds) through the xDS server', () => {
  let a: { port: number; server: grpc.Server };
  let b: { port: number; server: grpc.Server };
  let provider: ProxylessProvider;
  let xds: XdsServer;
  let client: EchoClient | undefined;

  beforeAll(async () => {
    setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error');
    a = await echoServer('echo-a');
    b = await echoServer('echo-b');
    provider = new ProxylessProvider([{ hostname: HOST, port: SERVICE_PORT, aliases: ['echo', 'echo.default'], endpoints: [{ address: '127.0.0.1', port: a.port }] }]);
    xds = new XdsServer({ provider });
    const xdsPort = await xds.listen('127.0.0.1:0');
    // grpc-js-xds reads (and caches) its bootstrap on first use.
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: NODE_ID, cluster: 'echo-client', locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: 'default' } },
    });
    grpcXds.register();
  });

  afterAll(async () => {
    client?.close();
    await xds?.close();
    a?.server.forceShutdown();
    b?.server.forceShutdown();
    delete process.env.GRPC_XDS_BOOTSTRAP_CONFIG;
  });

  test('resolves xds:///host:port, calls the echo server, and follows an endpoint change', async () => {
    client = new EchoService(`xds:///${HOST}:${SERVICE_PORT}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
    const reply = await waitFor('a call through the xds resolver', async () => echo(client as EchoClient, 'hello'), 30_000, 200);
    expect(reply).toEqual({ message: 'hello', server: 'echo-a' });

    // The server saw a proxyless client, and it subscribed by name only.
    const proxy = xds.registry.get(NODE_ID);
    expect(proxy?.info.kind).toBe('proxyless');
    expect(proxy?.info.generator).toBe('grpc');
    const streams = proxy?.status().streams ?? [];
    expect(streams).toHaveLength(1);
    expect(streams[0].service).toBe('ads');
    expect(streams[0].protocol).toBe('sotw');
    const byType = new Map(streams[0].types.map((t) => [t.typeUrl, t]));
    for (const t of [TypeUrl.Listener, TypeUrl.Route, TypeUrl.Cluster, TypeUrl.Endpoint]) {
      expect({ type: t, wildcard: byType.get(t)?.wildcard, subscribed: byType.get(t)?.subscribed, acked: byType.get(t)?.acked }).toEqual({ type: t, wildcard: false, subscribed: 1, acked: 1 });
    }
    expect(proxy?.nacks).toEqual([]);

    // The service's endpoints move to another server: an EDS push moves the calls.
    provider.services = [{ ...provider.services[0], endpoints: [{ address: '127.0.0.1', port: b.port }] }];
    await xds.push({ reason: 'endpoints', types: [TypeUrl.Endpoint] });
    const moved = await waitFor('calls to reach the new endpoint', async () => {
      const r = await echo(client as EchoClient, 'again');
      return r.server === 'echo-b' ? r : undefined;
    }, 30_000, 100);
    expect(moved).toEqual({ message: 'again', server: 'echo-b' });
    expect(proxy?.nacks).toEqual([]);
  });

  test('a service that goes away: the Listener is omitted from the next response and calls fail', async () => {
    const c = client as EchoClient;
    expect((await echo(c, 'still there')).server).toBe('echo-b');
    provider.services = [];
    await xds.push({ reason: 'config' });
    const err = await waitFor('calls to fail', async () => {
      try {
        await echo(c, 'gone?');
        return undefined;
      } catch (e) {
        return e as grpc.ServiceError;
      }
    }, 30_000, 100);
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(xds.registry.get(NODE_ID)?.nacks).toEqual([]);
  });

  test('the generator names resources as proxyless clients ask for them', () => {
    const snap = proxylessSnapshot([{ hostname: HOST, port: SERVICE_PORT, aliases: ['echo', 'echo.default'], endpoints: [{ address: '10.0.0.1', port: 8080 }] }]);
    expect([...(snap[TypeUrl.Listener]?.keys() ?? [])].sort()).toEqual([`echo.default:7070`, `echo:7070`, proxylessListenerName(HOST, SERVICE_PORT)].sort());
    expect([...(snap[TypeUrl.Cluster]?.keys() ?? [])]).toEqual([proxylessClusterName(HOST, SERVICE_PORT)]);
    expect([...(snap[TypeUrl.Endpoint]?.keys() ?? [])]).toEqual([`outbound|7070||${HOST}`]);
    expect([...(snap[TypeUrl.Route]?.keys() ?? [])]).toEqual([`${HOST}:7070`]);
  });
});
