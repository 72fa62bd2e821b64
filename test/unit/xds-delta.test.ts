// Delta (incremental) ADS against a real gRPC client on loopback: only changed resources are
// sent, removals as removed_resources, subscriptions honoured even with a stale nonce, known
// versions on reconnect not resent, and NACKs without resend loops.
import { jest } from '@jest/globals';
import { setLogLevel } from '../../src/util/logger.js';
import { StaticSnapshotProvider, type Snapshot } from '../../src/xds/snapshot.js';
import type { XdsServer } from '../../src/xds/server.js';
import type { AdsClient, AdsClientOptions } from '../support/ads-client.js';
import { LoopbackXds } from '../support/loopback-xds.js';
import { edsCluster, endpoints, httpListener, routeConfiguration } from '../support/envoy-resources.js';
import { TypeUrl } from '../../src/xds/types.js';

const { Cluster, Endpoint, Listener, Route } = TypeUrl;
const NODE = 'router~10.0.0.9~gw-1.istio-system~istio-system.svc.cluster.local';

let xds: LoopbackXds;
let server: XdsServer;
let provider: StaticSnapshotProvider;

function client(opts: Partial<AdsClientOptions> = {}): AdsClient {
  return xds.client({ node: { id: NODE }, protocol: 'delta', ...opts });
}

function clusters(...names: string[]) {
  return new Map(names.map((n) => [n, edsCluster(n)]));
}

function base(): Snapshot {
  return {
    [Cluster]: clusters('a', 'b'),
    [Endpoint]: new Map([['a', endpoints('a', [{ host: '127.0.0.1', port: 9001 }])]]),
    [Listener]: new Map([['http', httpListener('http', 10080, 'r')]]),
    [Route]: new Map([['r', routeConfiguration('r', [{ prefix: '/', cluster: 'a' }])]]),
  };
}

const settle = () => new Promise((r) => setTimeout(r, 100));

jest.setTimeout(20_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

beforeEach(async () => {
  provider = new StaticSnapshotProvider(base());
  xds = await LoopbackXds.start({ provider });
  server = xds.server;
});

afterEach(() => xds.close());

test('a wildcard subscription gets everything; an update sends only the changed resource', async () => {
  const c = client();
  c.subscribe(Cluster, []);
  await c.until('clusters', () => c.names(Cluster).length === 2);
  expect(server.registry.get(NODE)?.info.kind).toBe('router');
  provider.update({ [Cluster]: new Map([['a', edsCluster('a')], ['b', { ...edsCluster('b'), connect_timeout: { seconds: 5 } }]]) });
  await server.push({ reason: 'config', types: [Cluster] });
  await c.until('update', () => c.responses(Cluster).length === 2);
  expect(c.responses(Cluster)[1]).toMatchObject({ names: ['b'], removed: [] });
});

test('an empty wildcard set is still answered, so a client can finish starting', async () => {
  provider.set({});
  const c = client();
  c.subscribe(Listener, []);
  await c.until('an empty LDS response', () => c.responses(Listener).length === 1);
  expect(c.responses(Listener)[0]).toMatchObject({ names: [], removed: [] });
});

test('a removed resource is sent as removed_resources', async () => {
  const c = client();
  c.subscribe(Cluster, []);
  await c.until('clusters', () => c.names(Cluster).length === 2);
  provider.update({ [Cluster]: clusters('a') });
  await server.push({ reason: 'config' });
  await c.until('removal', () => c.names(Cluster).length === 1);
  expect(c.responses(Cluster).at(-1)).toMatchObject({ names: [], removed: ['b'] });
});

test('named subscriptions: a name that does not exist is answered as removed; unsubscribing stops updates', async () => {
  const c = client();
  c.subscribe(Endpoint, ['a', 'missing']);
  await c.until('a', () => c.names(Endpoint).length === 1);
  const all = c.responses(Endpoint).flatMap((r) => r.removed);
  expect(all).toEqual(['missing']);
  c.unsubscribe(Endpoint, ['a']);
  await settle();
  const before = c.responses(Endpoint).length;
  provider.update({ [Endpoint]: new Map([['a', endpoints('a', [{ host: '127.0.0.1', port: 9009 }])]]) });
  await server.push({ reason: 'endpoints', types: [Endpoint] });
  await settle();
  expect(c.responses(Endpoint).length).toBe(before);
  // It springs into existence: the subscriber is told.
  provider.update({ [Endpoint]: new Map([['a', endpoints('a', [])], ['missing', endpoints('missing', [{ host: '127.0.0.1', port: 1 }])]]) });
  await server.push({ reason: 'endpoints', types: [Endpoint] });
  await c.until('missing now exists', () => c.names(Endpoint).includes('missing'));
});

test('a subscription change is honoured even with a stale nonce', async () => {
  const c = client({ manual: true });
  c.subscribe(Endpoint, ['a']);
  await c.until('a', () => c.responses(Endpoint).length === 1);
  c.ack(Endpoint);
  c.send({ type_url: Endpoint, response_nonce: 'stale', resource_names_subscribe: ['a'] });
  await c.until('a again', () => c.responses(Endpoint).length === 2);
});

test('on reconnect, resources the client already has (initial_resource_versions) are not sent again', async () => {
  const c = client();
  c.subscribe(Cluster, []);
  await c.until('clusters', () => c.names(Cluster).length === 2);
  const versions = Object.fromEntries([...(server.registry.get(NODE)?.desired.get(Cluster) ?? [])].map(([n, r]) => [n, r.version]));
  c.close();
  await settle();
  provider.update({ [Cluster]: new Map([['a', edsCluster('a')], ['c', edsCluster('c')]]) });
  const again = client();
  again.send({ type_url: Cluster, initial_resource_versions: versions });
  await again.until('resync', () => again.responses(Cluster).length === 1);
  expect(again.responses(Cluster)[0]).toMatchObject({ names: ['c'], removed: ['b'] });
});

test('a NACK holds back the rejected resource; the other changes are retried once; no loop', async () => {
  const c = client({ reject: (r) => (r.names.includes('bad') ? 'Error adding/updating cluster(s) bad: nope' : undefined) });
  c.subscribe(Cluster, []);
  await c.until('clusters', () => c.names(Cluster).length === 2);
  provider.update({ [Cluster]: clusters('a', 'b', 'c', 'bad') });
  await server.push({ reason: 'config' });
  await c.until('retry of c', () => c.names(Cluster).includes('c'));
  await settle();
  const cds = c.responses(Cluster);
  expect(cds.slice(1).map((r) => ({ names: [...r.names].sort(), nacked: r.nacked }))).toEqual([
    { names: ['bad', 'c'], nacked: true },
    { names: ['c'], nacked: false },
  ]);
  expect(server.registry.get(NODE)?.nacks).toHaveLength(1);
});

test('a reconnecting delta client claiming more known resources than the names limit is refused', async () => {
  const limited = await LoopbackXds.start({ provider, limits: { maxNamesPerType: 10 } });
  try {
    const c = limited.client({ node: { id: NODE }, protocol: 'delta' });
    c.send({ type_url: Cluster, resource_names_subscribe: ['*'], initial_resource_versions: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`c${i}`, 'v1'])) });
    await c.until('the refusal', () => c.error !== undefined);
    expect(c.error?.message).toContain('RESOURCE_EXHAUSTED');
    expect(c.error?.message).toContain('subscribed to 11 cds resources; at most 10 per type');
  } finally {
    limited.close();
  }
});

test('streams planned the same change are sent one shared response, nonce included; each ACK is its own; secrets never', async () => {
  const ids = ['sidecar~10.0.0.1~a.default~default.svc.cluster.local', 'sidecar~10.0.0.2~b.default~default.svc.cluster.local'];
  const [c1, c2] = ids.map((id) => xds.client({ node: { id }, protocol: 'delta' }));
  for (const c of [c1, c2]) c.subscribe(Cluster, []);
  for (const c of [c1, c2]) await c.until('CDS', () => c.names(Cluster).length === 2);
  expect(c2.responses(Cluster)[0].nonce).toBe(c1.responses(Cluster)[0].nonce);
  // An update of one cluster: the same one-resource response to both.
  provider.update({ [Cluster]: new Map([['a', edsCluster('a')], ['b', { ...edsCluster('b'), connect_timeout: { seconds: 5 } }]]) });
  await server.push({ reason: 'config', types: [Cluster] });
  for (const c of [c1, c2]) await c.until('the update', () => c.responses(Cluster).length === 2);
  const [u1, u2] = [c1.responses(Cluster)[1], c2.responses(Cluster)[1]];
  expect(u1).toMatchObject({ names: ['b'], removed: [] });
  expect(u2.nonce).toBe(u1.nonce);
  expect(u2.version).toBe(u1.version);
  for (const id of ids) await c1.until(`${id} ACKed the update`, () => server.registry.get(id)?.status().streams[0].types[0].inflightNonce === undefined);
  // A removal is part of what is shared: both see it.
  provider.update({ [Cluster]: new Map([['a', edsCluster('a')]]) });
  await server.push({ reason: 'config', types: [Cluster] });
  for (const c of [c1, c2]) await c.until('the removal', () => c.responses(Cluster).length === 3);
  expect(c1.responses(Cluster)[2]).toMatchObject({ removed: ['b'] });
  expect(c2.responses(Cluster)[2].nonce).toBe(c1.responses(Cluster)[2].nonce);
  // Secrets: encoded for each stream alone.
  const before = server.sharedResponses.size;
  const secret = { name: 'default', tls_certificate: { certificate_chain: { inline_bytes: Buffer.from('CERT') }, private_key: { inline_bytes: Buffer.from('KEY') } } };
  provider.update({ [TypeUrl.Secret]: new Map([['default', secret]]) });
  for (const c of [c1, c2]) c.subscribe(TypeUrl.Secret, ['default']);
  for (const c of [c1, c2]) await c.until('SDS', () => c.responses(TypeUrl.Secret).length === 1);
  expect(c2.responses(TypeUrl.Secret)[0].nonce).not.toBe(c1.responses(TypeUrl.Secret)[0].nonce);
  expect(server.sharedResponses.size).toBe(before);
});
