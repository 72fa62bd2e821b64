// Which mutual TLS a workload accepts, with Istio's precedence: workload over namespace over mesh,
// UNSET inherits, PERMISSIVE by default, the oldest policy of a level wins, port-level modes only
// from the workload policy.
import type { PeerAuthenticationSpec } from '../../src/api/peer-authentication.js';
import { ConfigStore, type Config, type ConfigOf } from '../../src/model/config-store.js';
import { Mesh } from '../../src/model/mesh.js';
import { PeerAuthentications, type EffectiveMtls } from '../../src/model/peer-authentication.js';
import { ServiceRegistry } from '../../src/model/services.js';
import { warningsFor } from '../../src/model/warnings.js';

const ROOT = 'trellis-system';
let clock = 0;

/** A policy created one second after the previous one, unless `created` is given. */
function pa(namespace: string, name: string, spec: PeerAuthenticationSpec, created?: string): ConfigOf<'PeerAuthentication'> {
  clock++;
  return {
    kind: 'PeerAuthentication',
    namespace,
    name,
    generation: 1,
    resourceVersion: String(clock),
    creationTimestamp: created ?? new Date(Date.UTC(2024, 0, 1) + clock * 1000).toISOString(),
    labels: {},
    annotations: {},
    spec,
  };
}

const strict = { mtls: { mode: 'STRICT' } } as const;
const permissive = { mtls: { mode: 'PERMISSIVE' } } as const;
const disable = { mtls: { mode: 'DISABLE' } } as const;
const unset = { mtls: { mode: 'UNSET' } } as const;
const finance = { matchLabels: { app: 'finance' } };

function mtls(policies: Config<PeerAuthenticationSpec>[], namespace: string, labels: Record<string, string> = {}): { mode: string; ports: Record<number, string> } {
  const got: EffectiveMtls = new PeerAuthentications(policies, ROOT).effectiveMtls(namespace, labels);
  return { mode: got.mode, ports: Object.fromEntries(got.ports) };
}

describe('levels and inheritance', () => {
  test('with no policy, every workload is PERMISSIVE', () => {
    expect(mtls([], 'foo', { app: 'finance' })).toEqual({ mode: 'PERMISSIVE', ports: {} });
  });

  test('a mesh-wide policy (root namespace, no selector) applies in every namespace, the root one included', () => {
    const mesh = pa(ROOT, 'default', strict);
    expect(mtls([mesh], 'foo')).toEqual({ mode: 'STRICT', ports: {} });
    expect(mtls([mesh], ROOT, { app: 'x' })).toEqual({ mode: 'STRICT', ports: {} });
  });

  test('a namespace-wide policy overrides the mesh in its namespace only', () => {
    const policies = [pa(ROOT, 'default', strict), pa('foo', 'default', disable)];
    expect(mtls(policies, 'foo').mode).toBe('DISABLE');
    expect(mtls(policies, 'bar').mode).toBe('STRICT');
  });

  test('a workload policy overrides its namespace for the workloads its selector matches (all its labels)', () => {
    const policies = [pa('foo', 'default', disable), pa('foo', 'finance', { selector: { matchLabels: { app: 'finance', tier: 'db' } }, ...strict })];
    expect(mtls(policies, 'foo', { app: 'finance', tier: 'db', version: 'v1' }).mode).toBe('STRICT');
    expect(mtls(policies, 'foo', { app: 'finance' }).mode).toBe('DISABLE');
    expect(mtls(policies, 'bar', { app: 'finance', tier: 'db' }).mode).toBe('PERMISSIVE');
  });

  test('UNSET (or no mtls at all) inherits from the level above', () => {
    expect(mtls([pa(ROOT, 'default', unset)], 'foo').mode).toBe('PERMISSIVE');
    expect(mtls([pa(ROOT, 'default', strict), pa('foo', 'default', unset)], 'foo').mode).toBe('STRICT');
    expect(mtls([pa(ROOT, 'default', strict), pa('foo', 'default', {})], 'foo').mode).toBe('STRICT');
    expect(mtls([pa(ROOT, 'default', disable), pa('foo', 'default', strict), pa('foo', 'finance', { selector: finance, ...unset })], 'foo', { app: 'finance' }).mode).toBe('STRICT');
    expect(mtls([pa(ROOT, 'default', disable), pa('foo', 'finance', { selector: finance })], 'foo', { app: 'finance' }).mode).toBe('DISABLE');
  });

  test('a selector without labels makes a namespace-wide (or mesh-wide) policy', () => {
    expect(mtls([pa('foo', 'all', { selector: {}, ...strict })], 'foo', { app: 'any' }).mode).toBe('STRICT');
    expect(mtls([pa(ROOT, 'all', { selector: { matchLabels: {} }, ...disable })], 'foo').mode).toBe('DISABLE');
  });

  test('a policy with a selector in the root namespace applies to no workload, not even in the root namespace', () => {
    const policies = [pa(ROOT, 'finance', { selector: finance, ...strict })];
    expect(mtls(policies, 'foo', { app: 'finance' }).mode).toBe('PERMISSIVE');
    expect(mtls(policies, ROOT, { app: 'finance' }).mode).toBe('PERMISSIVE');
  });

  test('the root namespace can be another one', () => {
    const policies = [pa('istio-system', 'default', strict)];
    expect(new PeerAuthentications(policies, 'istio-system').effectiveMtls('foo', {}).mode).toBe('STRICT');
    expect(new PeerAuthentications(policies, ROOT).effectiveMtls('foo', {}).mode).toBe('PERMISSIVE');
    expect(new PeerAuthentications(policies, ROOT).effectiveMtls('istio-system', {}).mode).toBe('STRICT');
  });
});

describe('several policies at one level: the oldest wins', () => {
  test('namespace-wide and mesh-wide', () => {
    expect(mtls([pa('foo', 'newer', strict, '2024-02-01T00:00:00Z'), pa('foo', 'older', disable, '2024-01-01T00:00:00Z')], 'foo').mode).toBe('DISABLE');
    expect(mtls([pa(ROOT, 'newer', strict, '2024-02-01T00:00:00Z'), pa(ROOT, 'older', permissive, '2024-01-01T00:00:00Z')], 'foo').mode).toBe('PERMISSIVE');
  });

  test('workload policies matching the same workload, with their port-level modes', () => {
    const older = pa('foo', 'by-app', { selector: finance, ...disable, portLevelMtls: { '8080': { mode: 'STRICT' } } }, '2024-01-01T00:00:00Z');
    const newer = pa('foo', 'by-version', { selector: { matchLabels: { version: 'v1' } }, ...strict, portLevelMtls: { '9090': { mode: 'DISABLE' } } }, '2024-03-01T00:00:00Z');
    expect(mtls([newer, older], 'foo', { app: 'finance', version: 'v1' })).toEqual({ mode: 'DISABLE', ports: { 8080: 'STRICT' } });
    // A workload the older one does not select gets the newer one.
    expect(mtls([newer, older], 'foo', { app: 'cart', version: 'v1' })).toEqual({ mode: 'STRICT', ports: { 9090: 'DISABLE' } });
  });

  test('the same creationTimestamp (one-second resolution): the first name wins', () => {
    const t = '2024-01-01T00:00:00Z';
    expect(mtls([pa('foo', 'b', strict, t), pa('foo', 'a', disable, t)], 'foo').mode).toBe('DISABLE');
    expect(mtls([pa('foo', 'b-app', { selector: finance, ...strict }, t), pa('foo', 'a-app', { selector: finance, ...permissive }, t)], 'foo', { app: 'finance' }).mode).toBe('PERMISSIVE');
  });
});

describe('port-level mTLS', () => {
  test('applies per workload port; UNSET (or no mode) takes the workload\'s effective mode', () => {
    const policies = [
      pa('foo', 'default', strict),
      pa('foo', 'finance', { selector: finance, portLevelMtls: { '8080': { mode: 'DISABLE' }, '9090': { mode: 'UNSET' }, '9091': {}, '15000': { mode: 'PERMISSIVE' } } }),
    ];
    expect(mtls(policies, 'foo', { app: 'finance' })).toEqual({ mode: 'STRICT', ports: { 8080: 'DISABLE', 9090: 'STRICT', 9091: 'STRICT', 15000: 'PERMISSIVE' } });
    expect(mtls(policies, 'foo', { app: 'cart' })).toEqual({ mode: 'STRICT', ports: {} });
  });

  test('is ignored in namespace-wide and mesh-wide policies (validation rejects it there; the model ignores it anyway)', () => {
    const policies = [pa(ROOT, 'default', { ...strict, portLevelMtls: { '80': { mode: 'DISABLE' } } }), pa('foo', 'default', { ...disable, portLevelMtls: { '81': { mode: 'STRICT' } } })];
    expect(mtls(policies, 'foo')).toEqual({ mode: 'DISABLE', ports: {} });
    expect(mtls(policies, 'bar')).toEqual({ mode: 'STRICT', ports: {} });
  });

  test('only the winning workload policy\'s ports count', () => {
    const policies = [pa('foo', 'first', { selector: finance, ...strict }), pa('foo', 'second', { selector: finance, portLevelMtls: { '8080': { mode: 'DISABLE' } } })];
    expect(mtls(policies, 'foo', { app: 'finance' })).toEqual({ mode: 'STRICT', ports: {} });
  });

  test('reports which policy decided each level', () => {
    const mesh = pa(ROOT, 'default', strict);
    const ns = pa('foo', 'default', disable);
    const wl = pa('foo', 'finance', { selector: finance });
    expect(new PeerAuthentications([wl, ns, mesh], ROOT).applicable('foo', { app: 'finance' })).toEqual({ mesh, namespace: ns, workload: wl });
    expect(new PeerAuthentications([wl, ns, mesh], ROOT).applicable(ROOT, { app: 'finance' })).toEqual({ mesh, namespace: undefined, workload: undefined });
  });
});

describe('the Mesh and the store', () => {
  test('Mesh.mtlsFor answers from the store as listed when the Mesh was built', () => {
    const store = new ConfigStore();
    store.upsert(pa(ROOT, 'default', strict));
    store.upsert(pa('foo', 'finance', { selector: finance, ...permissive, portLevelMtls: { '8080': { mode: 'DISABLE' } } }));
    const mesh = new Mesh(store, new ServiceRegistry());
    expect(mesh.mtlsFor('foo', { app: 'finance' })).toEqual({ mode: 'PERMISSIVE', ports: new Map([[8080, 'DISABLE']]) });
    expect(mesh.mtlsFor('bar', { app: 'finance' })).toEqual({ mode: 'STRICT', ports: new Map() });
    store.delete('PeerAuthentication', ROOT, 'default');
    expect(mesh.mtlsFor('bar', {}).mode).toBe('STRICT'); // a snapshot
    expect(new Mesh(store, new ServiceRegistry()).mtlsFor('bar', {}).mode).toBe('PERMISSIVE');
    expect(new Mesh(store, new ServiceRegistry(), { rootNamespace: 'foo' }).mtlsFor('foo', { app: 'finance' }).mode).toBe('PERMISSIVE');
  });

  test('the store holds PeerAuthentications; a change names no host (it can concern any proxy)', () => {
    const store = new ConfigStore();
    const change = store.upsert(pa('foo', 'default', strict));
    expect(change).toMatchObject({ kind: 'PeerAuthentication', namespace: 'foo', name: 'default', hosts: [], op: 'upsert' });
    expect(store.list('PeerAuthentication')).toHaveLength(1);
    expect(store.list('VirtualService')).toHaveLength(0);
  });

  test('a selector without labels is accepted with Istio\'s warning', () => {
    const mesh = new Mesh(new ConfigStore(), new ServiceRegistry());
    expect(warningsFor(pa('foo', 'all', { selector: {} }), mesh)).toEqual([
      'spec.selector: workload selector specified without labels: the policy is namespace-wide (mesh-wide in the root namespace); omit the selector to say so',
    ]);
    expect(warningsFor(pa('foo', 'finance', { selector: finance }), mesh)).toEqual([]);
    expect(warningsFor(pa('foo', 'default', {}), mesh)).toEqual([]);
  });
});
