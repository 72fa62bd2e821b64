// The server's ack and nack events: every ACK names the proxy, the type, the version and the
// resources (with their content versions) the proxy now has; a NACK carries the recorded NACK.
import { jest } from '@jest/globals';
import { setLogLevel } from '../../src/util/logger.js';
import type { AckEvent, NackEvent } from '../../src/xds/events.js';
import { StaticSnapshotProvider } from '../../src/xds/snapshot.js';
import type { XdsServer } from '../../src/xds/server.js';
import { LoopbackXds } from '../support/loopback-xds.js';
import { edsCluster, routeConfiguration } from '../support/envoy-resources.js';
import { TypeUrl } from '../../src/xds/types.js';

const { Cluster, Route } = TypeUrl;
const NODE = 'sidecar~10.0.0.1~app-1.default~default.svc.cluster.local';

jest.setTimeout(20_000);

describe('xDS server events', () => {
  let xds: LoopbackXds;
  let server: XdsServer;
  let provider: StaticSnapshotProvider;

  beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

  beforeEach(async () => {
    provider = new StaticSnapshotProvider({
      [Cluster]: new Map([['a', edsCluster('a')]]),
      [Route]: new Map([['r', routeConfiguration('r', [{ prefix: '/', cluster: 'a' }])]]),
    });
    xds = await LoopbackXds.start({ provider });
    server = xds.server;
  });

  afterEach(() => xds.close());

  test.each(['sotw', 'delta'] as const)('%s: an ACK event per accepted response, with the resources and the push it carried', async (protocol) => {
    const acks: AckEvent[] = [];
    server.events.on('ack', (e) => acks.push(e));
    const c = xds.client({ node: { id: NODE }, protocol });
    c.subscribe(Cluster, []);
    c.subscribe(Route, ['r']);
    await c.until('both types', () => c.names(Cluster).length === 1 && c.names(Route).length === 1);
    await c.until('ack events', () => acks.length === 2);
    expect(acks.map((e) => [e.proxy.id, e.typeUrl, e.resources.map((r) => r.name)]).sort()).toEqual([
      [NODE, Cluster, ['a']],
      [NODE, Route, ['r']],
    ]);
    expect(acks.every((e) => e.pushStartedAt === undefined)).toBe(true); // answers to requests, no push yet

    const before = acks.length;
    provider.update({ [Route]: new Map([['r', routeConfiguration('r', [{ prefix: '/', cluster: 'a', responseHeader: ['x-v', '2'] }])]]) });
    const desiredVersion = () => server.registry.get(NODE)?.desired.get(Route)?.get('r')?.version;
    await server.push({ reason: 'config', types: [Route] });
    await c.until('the route ACK event', () => acks.length > before);
    const e = acks[acks.length - 1];
    expect(e.typeUrl).toBe(Route);
    expect(e.resources.find((r) => r.name === 'r')?.version).toBe(desiredVersion());
    expect(typeof e.pushStartedAt).toBe('number');
  });

  test('a listener that throws does not break the stream', async () => {
    server.events.on('ack', () => {
      throw new Error('listener bug');
    });
    const c = xds.client({ node: { id: NODE } });
    c.subscribe(Cluster, []);
    c.subscribe(Route, ['r']);
    await c.until('both types', () => c.names(Cluster).length === 1 && c.names(Route).length === 1);
    provider.update({ [Route]: new Map([['r', routeConfiguration('r', [{ prefix: '/', cluster: 'a', responseHeader: ['x-v', '3'] }])]]) });
    const n = c.responses(Route).length;
    await server.push({ reason: 'config', types: [Route] });
    await c.until('the next route', () => c.responses(Route).length > n);
    expect(c.error).toBeUndefined();
  });

  test('a NACK event carries the recorded NACK', async () => {
    const events: NackEvent[] = [];
    server.events.on('nack', (e) => events.push(e));
    const c = xds.client({ node: { id: NODE }, reject: (r) => (r.typeUrl === Route ? 'route r: bad' : undefined) });
    c.subscribe(Cluster, []);
    c.subscribe(Route, ['r']);
    await c.until('the nack event', () => events.length === 1);
    expect(events[0].proxy.id).toBe(NODE);
    expect(events[0].nack).toMatchObject({ typeUrl: Route, message: 'route r: bad', rejected: ['r'] });
    expect(server.registry.get(NODE)?.nacks).toEqual([events[0].nack]);
  });
});
