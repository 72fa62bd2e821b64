// State-of-the-world ADS against a real gRPC client on loopback: versions and nonces per type,
// ACKs, wildcard and named subscriptions, removals, NACKs without resend loops, stale nonces,
// make-before-break ordering, several streams per proxy, and shared bytes.
import { jest } from '@jest/globals';
import { setLogLevel } from '../../src/util/logger.js';
import { registry } from '../../src/util/metrics.js';
import { StaticSnapshotProvider } from '../../src/xds/snapshot.js';
import type { XdsServer } from '../../src/xds/server.js';
import type { AdsClient, AdsClientOptions } from '../support/ads-client.js';
import { LoopbackXds } from '../support/loopback-xds.js';
import { edsCluster, endpoints, httpListener, routeConfiguration, smallSnapshot, subscribeLikeEnvoy } from '../support/envoy-resources.js';
import { TypeUrl } from '../../src/xds/types.js';

const { Cluster, Endpoint, Listener, Route } = TypeUrl;
const NODE = 'sidecar~10.0.0.1~app-1.default~default.svc.cluster.local';

let xds: LoopbackXds;
let server: XdsServer;
let provider: StaticSnapshotProvider;

function client(id = NODE, opts: Partial<AdsClientOptions> = {}): AdsClient {
  return xds.client({ node: { id }, ...opts });
}



function port(listener: Record<string, unknown> | undefined): number | undefined {
  return (listener as { address?: { socket_address?: { port_value?: number } } } | undefined)?.address?.socket_address?.port_value;
}

const settle = () => new Promise((r) => setTimeout(r, 100));

async function counter(name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return m.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}

jest.setTimeout(20_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

beforeEach(async () => {
  provider = new StaticSnapshotProvider(smallSnapshot());
  xds = await LoopbackXds.start({ provider });
  server = xds.server;
});

afterEach(() => xds.close());

test('a wildcard CDS subscription receives every cluster with a version and a nonce, and the ACK is recorded', async () => {
  const c = client();
  c.subscribe(Cluster, []);
  await c.until('clusters', () => c.names(Cluster).length === 1);
  expect(c.names(Cluster)).toEqual(['a']);
  const [r] = c.responses(Cluster);
  expect(r.version).not.toBe('');
  expect(r.nonce).not.toBe('');
  const proxy = server.registry.get(NODE);
  expect(proxy?.info).toMatchObject({ kind: 'sidecar', ip: '10.0.0.1', podName: 'app-1', namespace: 'default' });
  await c.until('the ACK recorded', () => proxy?.status().streams[0].types[0].ackedVersion === r.version);
});

test('every type gets its own version and nonce on one stream', async () => {
  const c = client();
  await subscribeLikeEnvoy(c);
  const nonces = c.received.map((r) => r.nonce);
  expect(new Set(nonces).size).toBe(nonces.length);
  expect(new Set(c.received.map((r) => r.typeUrl))).toEqual(new Set([Cluster, Endpoint, Listener, Route]));
});

test('named subscriptions: only the names asked for, a new name at once, unsubscribed names no more', async () => {
  provider.update({ [Endpoint]: new Map([['a', endpoints('a', [{ host: '10.1.0.1', port: 80 }])], ['b', endpoints('b', [{ host: '10.1.0.2', port: 80 }])]]) });
  const c = client();
  c.subscribe(Endpoint, ['a']);
  await c.until('a', () => c.names(Endpoint).length === 1);
  expect(c.names(Endpoint)).toEqual(['a']);
  c.subscribe(Endpoint, ['b']);
  await c.until('b', () => c.names(Endpoint).includes('b'));
  expect(c.responses(Endpoint).at(-1)?.names).toEqual(['b']); // only what is new
  c.unsubscribe(Endpoint, ['a']);
  await settle();
  const before = c.responses(Endpoint).length;
  provider.update({ [Endpoint]: new Map([['a', endpoints('a', [{ host: '10.1.0.9', port: 80 }])], ['b', endpoints('b', [{ host: '10.1.0.2', port: 80 }])]]) });
  await server.push({ reason: 'endpoints', types: [Endpoint] });
  await settle();
  expect(c.responses(Endpoint).length).toBe(before);
});

test('an update arrives with a new version; pushing unchanged content sends nothing', async () => {
  const c = client();
  await subscribeLikeEnvoy(c);
  const before = c.received.length;
  await server.push({ reason: 'config' });
  await settle();
  expect(c.received.length).toBe(before);

  const edsPushesBefore = await counter('trellis_xds_pushes_total', { type: 'eds', reason: 'endpoints' });
  provider.update({ [Endpoint]: new Map([['a', endpoints('a', [{ host: '127.0.0.1', port: 9002 }])]]) });
  await server.push({ reason: 'endpoints', types: [Endpoint] });
  await c.until('new endpoints', () => c.resources<{ endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { port_value: number } } } }> }> }>(Endpoint).get('a')?.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value === 9002);
  const eds = c.responses(Endpoint);
  expect(eds.at(-1)?.version).not.toBe(eds.at(-2)?.version);
  expect(c.received.length).toBe(before + 1); // EDS only
  expect(await counter('trellis_xds_pushes_total', { type: 'eds', reason: 'endpoints' })).toBe(edsPushesBefore + 1);
});

test('a removed listener and cluster are omitted from the next state-of-the-world response', async () => {
  const c = client();
  await subscribeLikeEnvoy(c);
  provider.set({ ...smallSnapshot(), [Listener]: new Map(), [Cluster]: new Map(), [Endpoint]: new Map() });
  await server.push({ reason: 'config' });
  await c.until('removed', () => c.names(Listener).length === 0 && c.names(Cluster).length === 0);
  expect(c.responses(Listener).at(-1)?.names).toEqual([]);
  expect(c.responses(Cluster).at(-1)?.names).toEqual([]);
});

test('make-before-break: a new cluster is ACKed before the route that uses it is sent; on removal, the reverse', async () => {
  const c = client(NODE, { manual: true });
  const pump = setInterval(() => {
    for (const t of [Endpoint, Listener, Route, Cluster]) c.ack(t);
  }, 5);
  await subscribeLikeEnvoy(c);
  clearInterval(pump);
  const mark = c.received.length;

  // Add cluster b and move the route to it in one change.
  provider.update({
    [Cluster]: new Map([['a', edsCluster('a')], ['b', edsCluster('b')]]),
    [Endpoint]: new Map([['a', endpoints('a', [{ host: '127.0.0.1', port: 9001 }])], ['b', endpoints('b', [{ host: '127.0.0.1', port: 9003 }])]]),
    [Route]: new Map([['r', routeConfiguration('r', [{ prefix: '/', cluster: 'b' }])]]),
  });
  await server.push({ reason: 'config' });
  await c.until('CDS with b', () => c.received.slice(mark).some((r) => r.typeUrl === Cluster));
  await settle();
  expect(c.received.slice(mark).map((r) => r.typeUrl)).toEqual([Cluster]); // RDS waits for the CDS ACK
  expect(c.received.at(-1)?.names).toEqual(['a', 'b']);
  c.ack(Cluster);
  await c.until('RDS to b', () => c.received.slice(mark).some((r) => r.typeUrl === Route));
  c.ack(Route);

  // Move the route back to a and delete b in one change.
  const mark2 = c.received.length;
  provider.update({
    [Cluster]: new Map([['a', edsCluster('a')]]),
    [Endpoint]: new Map([['a', endpoints('a', [{ host: '127.0.0.1', port: 9001 }])]]),
    [Route]: new Map([['r', routeConfiguration('r', [{ prefix: '/', cluster: 'a' }])]]),
  });
  await server.push({ reason: 'config' });
  await c.until('RDS back to a', () => c.received.slice(mark2).some((r) => r.typeUrl === Route));
  await settle();
  expect(c.received.slice(mark2).map((r) => r.typeUrl)).toEqual([Route]); // b stays until routes moved
  c.ack(Route);
  await c.until('CDS without b', () => c.received.slice(mark2).some((r) => r.typeUrl === Cluster));
  expect(c.received.at(-1)?.names).toEqual(['a']);
});

test('a NACK keeps the client on its previous version, is recorded and counted, and the rejected resource is not sent again', async () => {
  const c = client(NODE, { reject: (r) => (r.typeUrl === Listener && r.names.includes('bad') ? 'Error adding/updating listener(s) bad: invalid stat_prefix' : undefined) });
  await subscribeLikeEnvoy(c);
  const nacksBefore = await counter('trellis_xds_nacks_total', { type: 'lds' });

  // A change to http (good) and a new listener bad (which the client rejects) in one push.
  const good = httpListener('http', 10082, 'r');
  provider.update({ [Listener]: new Map([['http', good], ['bad', httpListener('bad', 10090, 'r')]]) });
  await server.push({ reason: 'config' });
  await c.until('the NACK and the retry', () => c.responses(Listener).length >= 3 && c.names(Listener).length === 1);
  const lds = c.responses(Listener);
  expect(lds.at(-2)).toMatchObject({ nacked: true });
  expect([...(lds.at(-2)?.names ?? [])].sort()).toEqual(['bad', 'http']);
  // The retry carries the good change without the rejected listener.
  expect(lds.at(-1)).toMatchObject({ nacked: false, names: ['http'] });
  expect(await counter('trellis_xds_nacks_total', { type: 'lds' })).toBe(nacksBefore + 1);
  const proxy = server.registry.get(NODE);
  expect(proxy?.nacks.at(-1)).toMatchObject({ typeUrl: Listener, rejected: ['bad'] });
  expect(proxy?.nacks.at(-1)?.message).toContain('bad: invalid stat_prefix');
  const rejected = proxy?.status().streams[0].types.find((t) => t.typeUrl === Listener)?.rejected;
  expect(rejected?.map((r) => r.name)).toEqual(['bad']);

  // More pushes, also changing listeners: "bad" is never sent again while unchanged.
  for (const port of [10083, 10084]) {
    provider.update({ [Listener]: new Map([['http', httpListener('http', port, 'r')], ['bad', httpListener('bad', 10090, 'r')]]) });
    await server.push({ reason: 'config' });
  }
  await c.until('http on 10084', () => port(c.resources(Listener).get('http')) === 10084);
  await settle();
  const after = c.responses(Listener).slice(lds.length);
  expect(after.length).toBeGreaterThanOrEqual(1); // pushes may coalesce while a response is in flight
  expect(after.every((r) => !r.nacked && r.names.join() === 'http')).toBe(true);

  // Once its content changes, it is offered again.
  provider.update({ [Listener]: new Map([['http', httpListener('http', 10084, 'r')], ['bad', httpListener('bad', 10091, 'r')]]) });
  await server.push({ reason: 'config' });
  await c.until('bad offered again', () => c.responses(Listener).at(-1)?.names.includes('bad') === true);
});

test('a NACK that names nothing holds back every changed resource, and nothing is resent in a loop', async () => {
  const c = client(NODE, { reject: (r) => (r.typeUrl === Cluster && r.names.includes('b') ? 'something is wrong' : undefined) });
  await subscribeLikeEnvoy(c);
  provider.update({ [Cluster]: new Map([['a', edsCluster('a')], ['b', edsCluster('b')]]) });
  await server.push({ reason: 'config' });
  await c.until('the NACK', () => c.responses(Cluster).some((r) => r.nacked));
  await new Promise((r) => setTimeout(r, 300));
  expect(c.responses(Cluster).filter((r) => r.names.includes('b'))).toHaveLength(1);
  expect(c.names(Cluster)).toEqual(['a']);
});

test('a request with a stale nonce is ignored', async () => {
  const c = client(NODE, { manual: true });
  c.subscribe(Cluster, []);
  await c.until('CDS', () => c.responses(Cluster).length === 1);
  c.ack(Cluster);
  await settle();
  const before = c.received.length;
  // An old nonce with a changed subscription: no response.
  c.send({ type_url: Cluster, version_info: '', response_nonce: 'not-the-latest', resource_names: ['x'] });
  // A new EDS subscription with the stale CDS: untouched.
  await settle();
  expect(c.received.length).toBe(before);
  expect(server.registry.get(NODE)?.status().streams[0].types[0].wildcard).toBe(true);
});

test('one proxy with several streams stays registered until its last stream closes', async () => {
  const a = client();
  const b = client(NODE, { service: 'cds' });
  a.subscribe(Listener, []);
  b.subscribe(Cluster, []);
  await a.until('lds', () => a.names(Listener).length === 1);
  await b.until('cds over the per-type service', () => b.names(Cluster).length === 1);
  expect(server.registry.size).toBe(1);
  expect(server.registry.get(NODE)?.streams.size).toBe(2);
  a.close();
  await b.until('one stream left', () => server.registry.get(NODE)?.streams.size === 1);
  b.close();
  await a.until('proxy gone', () => server.registry.size === 0);
});

test('proxies receiving the same resource share one encoding', async () => {
  const c1 = client('sidecar~10.0.0.1~a.default~default.svc.cluster.local');
  const c2 = client('sidecar~10.0.0.2~b.default~default.svc.cluster.local');
  for (const c of [c1, c2]) c.subscribe(Cluster, []);
  await c1.until('c1', () => c1.names(Cluster).length === 1);
  await c2.until('c2', () => c2.names(Cluster).length === 1);
  const [p1, p2] = server.registry.list();
  expect(p1.desired.get(Cluster)?.get('a')).toBe(p2.desired.get(Cluster)?.get('a'));
  expect(c1.responses(Cluster)[0].values.get('a')).toEqual(c2.responses(Cluster)[0].values.get('a'));
});

test('streams sent the same version of a type are sent one shared response, nonce included; each ACK is its own stream\'s', async () => {
  const ids = ['sidecar~10.0.0.1~a.default~default.svc.cluster.local', 'sidecar~10.0.0.2~b.default~default.svc.cluster.local'];
  const [c1, c2] = ids.map((id) => client(id));
  for (const c of [c1, c2]) c.subscribe(Cluster, []);
  for (const c of [c1, c2]) await c.until('CDS', () => c.names(Cluster).length === 1);
  const [r1, r2] = [c1.responses(Cluster)[0], c2.responses(Cluster)[0]];
  expect(r2.version).toBe(r1.version);
  expect(r2.nonce).toBe(r1.nonce);
  for (const id of ids) await c1.until(`${id} ACKed`, () => server.registry.get(id)?.status().streams[0].types[0].ackedVersion === r1.version);
  // A new version: a new shared response for both.
  provider.update({ [Cluster]: new Map([['a', edsCluster('a')], ['b', edsCluster('b')]]) });
  await server.push({ reason: 'test' });
  for (const c of [c1, c2]) await c.until('the update', () => c.names(Cluster).length === 2);
  const [u1, u2] = [c1.responses(Cluster).at(-1)!, c2.responses(Cluster).at(-1)!];
  expect(u1.nonce).toBe(u2.nonce);
  expect(u1.nonce).not.toBe(r1.nonce);
  for (const id of ids) await c1.until(`${id} ACKed the update`, () => server.registry.get(id)?.status().streams[0].types[0].ackedVersion === u1.version);
  // A third stream that is sent the first version again (the change undone) gets the first response.
  provider.update({ [Cluster]: new Map([['a', edsCluster('a')]]) });
  await server.push({ reason: 'test' });
  for (const c of [c1, c2]) await c.until('the change undone', () => c.names(Cluster).length === 1);
  expect(c1.responses(Cluster).at(-1)!.version).toBe(r1.version);
});

test('a stream sent the same shared response twice in a row gets a nonce of its own the second time', async () => {
  // Endpoints are sent again when their cluster is updated in place (Envoy re-creates it): the
  // same version, so the ACK of the first must not count for the second.
  provider.update({ [Cluster]: new Map([['a', edsCluster('a')]]), [Endpoint]: new Map([['a', endpoints('a', [{ host: '10.1.0.1', port: 80 }])]]) });
  const c = client();
  c.subscribe(Cluster, []);
  c.subscribe(Endpoint, ['a']);
  await c.until('EDS', () => c.responses(Endpoint).length === 1);
  const updated = edsCluster('a');
  (updated as { connect_timeout?: unknown }).connect_timeout = { seconds: 7 };
  provider.update({ [Cluster]: new Map([['a', updated]]) });
  await server.push({ reason: 'test' });
  await c.until('the updated cluster', () => c.responses(Cluster).length === 2);
  await c.until('EDS again', () => c.responses(Endpoint).length === 2);
  const [first, second] = c.responses(Endpoint);
  expect(second.version).toBe(first.version);
  expect(second.nonce).not.toBe(first.nonce);
  await c.until('the resend ACKed', () => server.registry.get(NODE)?.status().streams[0].types.find((t) => t.typeUrl === Endpoint)?.inflightNonce === undefined);
});

test("a secret response is never shared: each stream's keys are encoded for it alone, and none is held for another", async () => {
  // Were a Secret response shared, a stream whose resources' digest matched another's would be
  // handed that stream's bytes: the private key of another identity.
  const secret = { name: 'default', tls_certificate: { certificate_chain: { inline_bytes: Buffer.from('CERT') }, private_key: { inline_bytes: Buffer.from('KEY') } } };
  provider.update({ [TypeUrl.Secret]: new Map([['default', secret]]) });
  const ids = ['sidecar~10.0.0.1~a.default~default.svc.cluster.local', 'sidecar~10.0.0.2~b.default~default.svc.cluster.local'];
  const [c1, c2] = ids.map((id) => client(id));
  for (const c of [c1, c2]) c.subscribe(TypeUrl.Secret, ['default']);
  for (const c of [c1, c2]) await c.until('SDS', () => c.responses(TypeUrl.Secret).length === 1);
  const [r1, r2] = [c1.responses(TypeUrl.Secret)[0], c2.responses(TypeUrl.Secret)[0]];
  expect(r2.version).toBe(r1.version);
  expect(r2.nonce).not.toBe(r1.nonce);
  expect(server.sharedResponses.size).toBe(0);
});

test('a resource that cannot be encoded keeps its previous version and the proxy keeps the rest', async () => {
  const c = client();
  await subscribeLikeEnvoy(c);
  const broken = { name: 'a', connect_timeout: 'soon' } as never;
  provider.update({ [Cluster]: new Map([['a', broken], ['c', edsCluster('c')]]) });
  await server.push({ reason: 'config' });
  await c.until('c', () => c.names(Cluster).includes('c'));
  expect(c.names(Cluster)).toEqual(['a', 'c']);
});

test('proxies handed the same map share one encoded map, unless a resource in it failed to encode', async () => {
  const ids = ['sidecar~10.0.0.1~a-1.default~default.svc.cluster.local', 'sidecar~10.0.0.2~b-1.default~default.svc.cluster.local'];
  const [a, b] = ids.map((id) => client(id));
  await Promise.all([subscribeLikeEnvoy(a), subscribeLikeEnvoy(b)]);
  const desired = (id: string) => server.registry.get(id)?.desired.get(Cluster);
  expect(desired(ids[0])).toBeDefined();
  expect(desired(ids[0])).toBe(desired(ids[1]));

  // 'a' cannot be encoded: the proxies that had it keep their own version of it; a newcomer has none.
  provider.update({ [Cluster]: new Map([['a', { name: 'a', connect_timeout: 'soon' } as never], ['c', edsCluster('c')]]) });
  await server.push({ reason: 'config' });
  await a.until('c', () => a.names(Cluster).includes('c'));
  const late = client('sidecar~10.0.0.3~c-1.default~default.svc.cluster.local');
  await subscribeLikeEnvoy(late).catch(() => undefined);
  await late.until('c', () => late.names(Cluster).includes('c'));
  expect(a.names(Cluster)).toEqual(['a', 'c']);
  expect(late.names(Cluster)).toEqual(['c']);
  expect(desired(ids[0])).not.toBe(desired('sidecar~10.0.0.3~c-1.default~default.svc.cluster.local'));
});

test('a provider failing on connect closes the stream (UNAVAILABLE) instead of sending an empty configuration', async () => {
  await xds.close();
  let fail = true;
  xds = await LoopbackXds.start({
    provider: {
      snapshot: (proxy, types) => {
        if (fail) throw new Error('model not ready');
        return provider.snapshot(proxy, types);
      },
    },
  });
  server = xds.server;
  const c = client();
  c.subscribe(Cluster, []);
  await expect(c.until('an error', () => false, 3000)).rejects.toMatchObject({ code: 14 });
  expect(c.received).toHaveLength(0);
  expect(server.registry.size).toBe(0);
  fail = false;
  const again = client();
  again.subscribe(Cluster, []);
  await again.until('clusters', () => again.names(Cluster).length === 1);
});

test('a provider failing on a push leaves the proxy on what it has', async () => {
  const c = client();
  await subscribeLikeEnvoy(c);
  const before = c.received.length;
  const failing = { snapshot: () => Promise.reject(new Error('boom')) };
  Object.assign(server as unknown as { provider: unknown }, { provider: failing });
  await server.push({ reason: 'config' });
  await settle();
  expect(c.received.length).toBe(before);
  expect(c.names(Cluster)).toEqual(['a']);
});

test('the unary Fetch method answers with what the node should have', async () => {
  const { PER_TYPE_SERVICES, perTypeDefinition } = await import('../../src/xds/services.js');
  const grpc = await import('@grpc/grpc-js');
  const cds = PER_TYPE_SERVICES.find((s) => s.short === 'cds');
  if (!cds) throw new Error('no cds');
  const Ctor = grpc.makeGenericClientConstructor(perTypeDefinition(cds), 'cds');
  const cl = new Ctor(xds.target, grpc.credentials.createInsecure()) as unknown as Record<string, (req: object, cb: (err: Error | null, res: { resources: unknown[]; version_info: string }) => void) => void>;
  const res = await new Promise<{ resources: unknown[]; version_info: string }>((resolve, reject) =>
    cl.FetchClusters({ node: { id: NODE }, type_url: Cluster }, (err, r) => (err ? reject(err) : resolve(r))),
  );
  expect(res.resources).toHaveLength(1);
  expect(res.version_info).not.toBe('');
  (cl as unknown as { close(): void }).close();
});
