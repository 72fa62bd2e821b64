// An object's rollout counts the proxies a change to it reaches (the push's own rules), those
// that hold the model version its current generation entered at, and those whose rejection
// covers that version.
import { reconciledCondition } from '../../src/controllers/networking.js';
import type { AnyConfig, ChangeSet } from '../../src/model/config-store.js';
import { rolloutMessage, RolloutTracker, RolloutView, type RolloutProxy } from '../../src/push/rollout.js';
import type { RejectedEpochs } from '../../src/xds/proxy-registry.js';
import { TypeUrl, type TypeUrl as TypeUrlT } from '../../src/xds/types.js';
import { buildMesh, config, type ServiceFixture } from '../support/mesh-fixtures.js';

const services: ServiceFixture[] = [
  { namespace: 'a', name: 'web', clusterIP: '10.96.1.1', ports: [{ name: 'http', port: 80 }] },
  { namespace: 'b', name: 'reviews', clusterIP: '10.96.2.1', ports: [{ name: 'http', port: 9080 }] },
];

/** A proxy synced up to `synced` on every type (or per type), with an optional rejection. */
function proxy(id: string, kind: string, namespace: string, synced: number | Partial<Record<TypeUrlT, number>>, rejected?: { type: TypeUrlT } & RejectedEpochs, labels: Record<string, string> = {}): RolloutProxy {
  return {
    id,
    kind,
    namespace,
    labels,
    syncedEpoch: (t) => (typeof synced === 'number' ? synced : (synced[t] ?? 0)),
    rejected: (t) => (rejected?.type === t ? rejected : undefined),
  };
}

const upsert = (c: AnyConfig): ChangeSet => ({ kind: c.kind, namespace: c.namespace, name: c.name, hosts: [], op: 'upsert', after: c.spec }) as ChangeSet;

test("a VirtualService exported to its namespace reaches that namespace's sidecars and the gateways; each counts once it holds the version", () => {
  const vs = config('VirtualService', 'b', 'reviews', { hosts: ['reviews'], exportTo: ['.'], http: [{ route: [{ destination: { host: 'reviews' } }] }] });
  const mesh = buildMesh(services, [vs]);
  const t = new RolloutTracker('trellis-system');
  t.record(upsert(vs), 7, vs);
  const proxies = [proxy('b-1', 'sidecar', 'b', 7), proxy('b-2', 'sidecar', 'b', 6), proxy('a-1', 'sidecar', 'a', 0), proxy('gw', 'router', 'ingress', 9)];
  expect(t.rollout('VirtualService', 'b', 'reviews', new RolloutView(proxies, mesh))).toEqual({ reached: 3, upToDate: 2, rejected: [] });
  expect(t.rollout('VirtualService', 'b', 'other', new RolloutView(proxies, mesh))).toBeUndefined();
});

test('a proxy holds an object only when every type the object concerns is synced', () => {
  const policy = config('AuthorizationPolicy', 'a', 'deny', { action: 'DENY', rules: [{}] });
  const mesh = buildMesh(services, [policy]);
  const t = new RolloutTracker('trellis-system');
  t.record(upsert(policy), 5, policy);
  // Policies live in listeners and routes: endpoints lagging behind do not matter.
  const proxies = [proxy('x', 'sidecar', 'a', { [TypeUrl.Listener]: 5, [TypeUrl.Route]: 5, [TypeUrl.Endpoint]: 1 }), proxy('y', 'sidecar', 'a', { [TypeUrl.Listener]: 5, [TypeUrl.Route]: 4 })];
  expect(t.rollout('AuthorizationPolicy', 'a', 'deny', new RolloutView(proxies, mesh))).toEqual({ reached: 2, upToDate: 1, rejected: [] });
});

test('a rejection counts against the objects whose version its batch covers, not older ones', () => {
  const older = config('VirtualService', 'a', 'web', { hosts: ['web'], http: [{ route: [{ destination: { host: 'web' } }] }] });
  const culprit = config('VirtualService', 'b', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] });
  const mesh = buildMesh(services, [older, culprit]);
  const t = new RolloutTracker('trellis-system');
  t.record(upsert(older), 3, older);
  t.record(upsert(culprit), 4, culprit);
  // Synced to 4 with the rejected listener held back at its previous version.
  const proxies = [proxy('p', 'sidecar', 'a', 4, { type: TypeUrl.Listener, after: 3, through: 4, message: 'Error adding/updating listener(s) x: bad' })];
  expect(t.rollout('VirtualService', 'a', 'web', new RolloutView(proxies, mesh))).toEqual({ reached: 1, upToDate: 1, rejected: [] });
  const r = t.rollout('VirtualService', 'b', 'reviews', new RolloutView(proxies, mesh))!;
  expect(r).toEqual({ reached: 1, upToDate: 0, rejected: [{ proxy: 'p', message: 'Error adding/updating listener(s) x: bad' }] });
  expect(reconciledCondition(r)).toEqual({ type: 'Reconciled', status: 'False', reason: 'ProxyRejected', message: '0/1 proxies up to date. 1 rejected it: p: Error adding/updating listener(s) x: bad' });
});

test('a deleted object is no longer tracked; a Gateway reaches gateways only', () => {
  const gw = config('Gateway', 'ingress', 'gw', { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] });
  const mesh = buildMesh(services, [gw]);
  const t = new RolloutTracker('trellis-system');
  t.record(upsert(gw), 2, gw);
  const proxies = [proxy('s', 'sidecar', 'a', 0), proxy('gw', 'router', 'ingress', 2)];
  expect(t.rollout('Gateway', 'ingress', 'gw', new RolloutView(proxies, mesh))).toEqual({ reached: 1, upToDate: 1, rejected: [] });
  t.record({ ...upsert(gw), op: 'delete' }, 3, undefined);
  expect(t.keys()).toEqual([]);
});

test('an object that reaches every proxy is counted as one that reaches some: the same proxies up to date, the same rejections', () => {
  // The first is counted from the sorted versions, the second proxy by proxy: exported to its
  // own namespace, with every proxy in it, both reach the same proxies.
  const everywhere = config('VirtualService', 'b', 'wide', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] });
  const own = config('VirtualService', 'b', 'own', { hosts: ['reviews'], exportTo: ['.'], http: [{ route: [{ destination: { host: 'reviews' } }] }] });
  const mesh = buildMesh(services, [everywhere, own]);
  const t = new RolloutTracker('trellis-system');
  t.record(upsert(everywhere), 50, everywhere);
  t.record(upsert(own), 50, own);
  let seed = 7;
  const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let round = 0; round < 20; round++) {
    const proxies = Array.from({ length: 40 }, (_, i) => {
      const synced = { [TypeUrl.Secret]: 48 + random(7), [TypeUrl.Cluster]: 48 + random(7), [TypeUrl.Endpoint]: 48 + random(7), [TypeUrl.Listener]: 48 + random(7), [TypeUrl.Route]: 48 + random(7) };
      const rejection = random(4) === 0 ? { type: TypeUrl.Route, after: 40 + random(15), through: 45 + random(15), message: `bad ${i}` } : undefined;
      return proxy(`p${i}`, 'sidecar', 'b', synced, rejection);
    });
    const view = new RolloutView(proxies, mesh);
    const wide = t.rollout('VirtualService', 'b', 'wide', view)!;
    expect(wide).toEqual(t.rollout('VirtualService', 'b', 'own', view));
    // And as the rule says, proxy by proxy.
    const rejected = proxies.filter((p) => {
      const r = p.rejected(TypeUrl.Route);
      return r !== undefined && r.after < 50 && 50 <= r.through;
    });
    // A VirtualService is up to date where its listeners and routes are (the mesh has no Sidecar).
    const held = proxies.filter((p) => !rejected.includes(p) && [TypeUrl.Listener, TypeUrl.Route].every((ty) => p.syncedEpoch(ty) >= 50));
    expect(wide).toEqual({ reached: 40, upToDate: held.length, rejected: rejected.map((p) => ({ proxy: p.id, message: p.rejected(TypeUrl.Route)!.message })) });
  }
});

test("Istio's words: Reconciled is True once every proxy reached holds the generation", () => {
  expect(reconciledCondition({ reached: 3, upToDate: 3, rejected: [] })).toEqual({ type: 'Reconciled', status: 'True', reason: 'Reconciled', message: '3/3 proxies up to date.' });
  expect(reconciledCondition({ reached: 0, upToDate: 0, rejected: [] })).toMatchObject({ status: 'True', message: '0/0 proxies up to date.' });
  expect(reconciledCondition({ reached: 3, upToDate: 1, rejected: [] })).toMatchObject({ status: 'False', reason: 'InProgress', message: '1/3 proxies up to date.' });
  const many = Array.from({ length: 5 }, (_, i) => ({ proxy: `p${i}`, message: 'bad' }));
  expect(rolloutMessage({ reached: 5, upToDate: 0, rejected: many })).toBe('0/5 proxies up to date. 5 rejected it: p0: bad; p1: bad; p2: bad; and 2 more');
});
