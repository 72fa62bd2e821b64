// A proxy's sync in model versions, over real gRPC: the version its desired state came from is
// the one it holds once everything due is ACKed (not before: a response in flight, or waiting
// for make-before-break, is not held); a rejection marks the versions of the batch that
// produced it until the rejected content changes.
import { jest } from '@jest/globals';
import { setLogLevel } from '../../src/util/logger.js';
import { StaticSnapshotProvider } from '../../src/xds/snapshot.js';
import type { XdsServer } from '../../src/xds/server.js';
import { LoopbackXds } from '../support/loopback-xds.js';
import { edsCluster, httpListener, routeConfiguration, smallSnapshot, subscribeLikeEnvoy } from '../support/envoy-resources.js';
import { ALL_TYPES, TypeUrl } from '../../src/xds/types.js';

const { Cluster, Listener, Route } = TypeUrl;
const NODE = 'sidecar~10.0.0.1~app-1.default~default.svc.cluster.local';

let xds: LoopbackXds;
let server: XdsServer;
let provider: StaticSnapshotProvider;
let epoch = 1;



const settle = () => new Promise((r) => setTimeout(r, 100));

jest.setTimeout(20_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

beforeEach(async () => {
  epoch = 1;
  provider = new StaticSnapshotProvider(smallSnapshot());
  xds = await LoopbackXds.start({ provider, epoch: () => epoch });
  server = xds.server;
});

afterEach(() => xds.close());

test('a proxy holds a model version once every type it concerns is ACKed, not while a response is in flight', async () => {
  const c = xds.client({ node: { id: NODE }, manual: true });
  const pump = setInterval(() => ALL_TYPES.forEach((t) => c.ack(t)), 5);
  await subscribeLikeEnvoy(c);
  const proxy = server.registry.get(NODE)!;
  await c.until('synced', () => proxy.syncState(ALL_TYPES) === 'SYNCED');
  clearInterval(pump);
  expect(ALL_TYPES.map((t) => proxy.syncedEpoch(t))).toEqual(ALL_TYPES.map(() => 1));

  // Version 2 changes the route: until its ACK the proxy holds version 1 of routes, 2 of the rest.
  epoch = 2;
  provider.update({ [Route]: new Map([['r', routeConfiguration('r', [{ prefix: '/v2', cluster: 'a' }])]]) });
  await server.push({ reason: 'config' });
  await c.until('the new route', () => c.responses(Route).length === 2);
  expect(proxy.syncedEpoch(Route)).toBe(1);
  expect(proxy.syncedEpoch(Cluster)).toBe(2); // unchanged: already held
  expect(proxy.syncState(ALL_TYPES)).toBe('STALE');
  c.ack(Route);
  await c.until('routes synced at 2', () => proxy.syncedEpoch(Route) === 2);
  expect(proxy.syncState(ALL_TYPES)).toBe('SYNCED');

  // Version 3 adds a cluster and moves the route to it: the route waits for the cluster's ACK
  // (make-before-break), and is not held until its own ACK.
  epoch = 3;
  provider.update({
    [Cluster]: new Map([['a', edsCluster('a')], ['b', edsCluster('b')]]),
    [Route]: new Map([['r', routeConfiguration('r', [{ prefix: '/', cluster: 'b' }])]]),
  });
  await server.push({ reason: 'config' });
  await c.until('the new cluster', () => c.responses(Cluster).length === 2);
  await settle();
  expect([proxy.syncedEpoch(Cluster), proxy.syncedEpoch(Route)]).toEqual([2, 2]);
  c.ack(Cluster);
  await c.until('the route to b', () => c.responses(Route).length === 3);
  expect([proxy.syncedEpoch(Cluster), proxy.syncedEpoch(Route)]).toEqual([3, 2]);
  c.ack(Route);
  await c.until('routes synced at 3', () => proxy.syncedEpoch(Route) === 3);
});

test('a proxy that has accepted nothing yet holds nothing', async () => {
  const c = xds.client({ node: { id: NODE }, manual: true });
  c.subscribe(Cluster, []);
  await c.until('a response', () => c.responses(Cluster).length === 1);
  const proxy = server.registry.get(NODE)!;
  expect(ALL_TYPES.map((t) => proxy.syncedEpoch(t))).toEqual(ALL_TYPES.map(() => 0));
  c.ack(Cluster);
  await c.until('clusters synced', () => proxy.syncedEpoch(Cluster) === 1);
});

test('a rejection marks the versions of the batch that produced it, until the rejected content changes', async () => {
  const c = xds.client({ node: { id: NODE }, reject: (r) => (r.typeUrl === Listener && r.names.includes('bad') ? 'Error adding/updating listener(s) bad: invalid stat_prefix' : undefined) });
  await subscribeLikeEnvoy(c);
  const proxy = server.registry.get(NODE)!;
  await c.until('synced at 1', () => proxy.syncedEpoch(Listener) === 1);

  // Versions 2 and 3 go out in one push (debounced together); the client rejects listener bad.
  epoch = 3;
  provider.update({ [Listener]: new Map([['http', httpListener('http', 10082, 'r')], ['bad', httpListener('bad', 10090, 'r')]]) });
  await server.push({ reason: 'config' });
  await c.until('the NACK', () => c.responses(Listener).some((r) => r.nacked));
  await c.until('rejection recorded', () => proxy.rejected(Listener) !== undefined);
  expect(proxy.rejected(Listener)).toEqual({ after: 1, through: 3, message: 'Error adding/updating listener(s) bad: invalid stat_prefix' });
  expect(proxy.syncState(ALL_TYPES)).toBe('NACK');

  // Version 4 (another change, listener bad unchanged): the proxy holds it, bad still rejected.
  epoch = 4;
  provider.update({ [Listener]: new Map([['http', httpListener('http', 10083, 'r')], ['bad', httpListener('bad', 10090, 'r')]]) });
  await server.push({ reason: 'config' });
  await c.until('synced at 4', () => proxy.syncedEpoch(Listener) === 4);
  expect(proxy.rejected(Listener)).toMatchObject({ after: 1, through: 3 });

  // Version 5 drops bad: the rejection is forgotten.
  epoch = 5;
  provider.update({ [Listener]: new Map([['http', httpListener('http', 10083, 'r')]]) });
  await server.push({ reason: 'config' });
  await c.until('synced at 5', () => proxy.syncedEpoch(Listener) === 5);
  expect(proxy.rejected(Listener)).toBeUndefined();
  expect(proxy.syncState(ALL_TYPES)).toBe('SYNCED');
});
