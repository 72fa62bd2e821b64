// Kubernetes Services and ServiceEntry hosts side by side: conversion, which one a client
// namespace gets for a host, and endpoints.
import type { ServiceEntrySpec } from '../../src/api/service-entry.js';
import type { Config } from '../../src/model/config-store.js';
import { ServiceIndex, protocolOfServicePort, serviceFromKubernetes, type MeshService } from '../../src/model/mesh-services.js';
import { kubernetesEndpoints, serviceEntryEndpoints, servicesFromServiceEntry } from '../../src/model/service-entries.js';
import { ServiceRegistry, type PodRecord, type ServiceRecord } from '../../src/model/services.js';
import { config } from '../support/mesh-fixtures.js';

const se = (namespace: string, name: string, spec: ServiceEntrySpec, creationTimestamp?: string): Config<ServiceEntrySpec> =>
  config('ServiceEntry', namespace, name, spec, creationTimestamp);
function kube(namespace: string, name: string, extra: Partial<ServiceRecord> = {}): ServiceRecord {
  return {
    namespace,
    name,
    hostname: `${name}.${namespace}.svc.cluster.local`,
    clusterIP: '10.96.0.10',
    ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
    labels: {},
    selector: { app: name },
    exportTo: [],
    ...extra,
  };
}
const who = (s: MeshService | undefined): string | undefined => (s ? `${s.source}:${s.namespace}/${s.name}` : undefined);

describe('protocolOfServicePort', () => {
  test.each<[string, string | undefined, string, string]>([
    ['http', undefined, 'TCP', 'HTTP'],
    ['http-web', undefined, 'TCP', 'HTTP'],
    ['grpc-api', undefined, 'TCP', 'GRPC'],
    ['https', undefined, 'TCP', 'HTTPS'],
    ['tcp-db', undefined, 'TCP', 'TCP'],
    ['web', 'http', 'TCP', 'HTTP'],
    ['web', 'kubernetes.io/h2c', 'TCP', 'HTTP2'],
    ['http', 'grpc', 'TCP', 'GRPC'], // appProtocol first
    ['web', undefined, 'TCP', 'UNKNOWN'], // auto-detect
    ['dns', undefined, 'UDP', 'UDP'],
    ['', undefined, 'TCP', 'UNKNOWN'],
  ])('name %s, appProtocol %s, %s → %s', (name, appProtocol, protocol, want) => {
    expect(protocolOfServicePort({ name, appProtocol, protocol })).toBe(want);
  });
});

test('a Kubernetes Service becomes a mesh service (headless resolves as NONE)', () => {
  const s = serviceFromKubernetes(kube('prod', 'reviews', { ports: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'TCP' }] }), ['*']);
  expect(s).toMatchObject({
    hostname: 'reviews.prod.svc.cluster.local',
    source: 'Kubernetes',
    resolution: 'STATIC',
    location: 'MESH_INTERNAL',
    addresses: ['10.96.0.10'],
    ports: [{ name: 'http', number: 9080, protocol: 'HTTP', targetPort: 9080 }],
    selector: { app: 'reviews' },
  });
  const headless = serviceFromKubernetes(kube('prod', 'db', { clusterIP: 'None' }), ['*']);
  expect(headless.resolution).toBe('NONE');
  expect(headless.addresses).toEqual([]);
});

test('a ServiceEntry gives one service per host, hosts taken as written', () => {
  const out = servicesFromServiceEntry(
    se('egress', 'external', {
      hosts: ['api.example.com', '*.wikipedia.org', 'shortname'],
      addresses: ['240.0.0.1'],
      ports: [{ number: 443, name: 'https', protocol: 'TLS' }],
      location: 'MESH_EXTERNAL',
      resolution: 'DNS',
      exportTo: ['.'],
    }),
    ['*'],
  );
  expect(out.map((s) => s.hostname)).toEqual(['api.example.com', '*.wikipedia.org', 'shortname']);
  expect(out[0]).toMatchObject({ namespace: 'egress', name: 'external', source: 'ServiceEntry', resolution: 'DNS', location: 'MESH_EXTERNAL', addresses: ['240.0.0.1'], exportTo: ['.'] });
  expect(out[0].ports).toEqual([{ name: 'https', number: 443, protocol: 'TLS', targetPort: undefined }]);
  expect(out[0].visibility.public).toBe(false);
});

test('ServiceEntry defaults: resolution NONE, location MESH_EXTERNAL', () => {
  const [s] = servicesFromServiceEntry(se('a', 'b', { hosts: ['x.example.com'] }), ['*']);
  expect(s.resolution).toBe('NONE');
  expect(s.location).toBe('MESH_EXTERNAL');
});

describe('ServiceIndex.forClient: which service a client namespace gets for a host', () => {
  const host = 'reviews.prod.svc.cluster.local';
  const k8s = serviceFromKubernetes(kube('prod', 'reviews'), ['*']);
  const olderSe = servicesFromServiceEntry(se('squat', 'older', { hosts: [host] }, '2020-01-01T00:00:00Z'), ['*'])[0];
  const newerSe = servicesFromServiceEntry(se('squat2', 'newer', { hosts: ['api.example.com'] }, '2024-01-01T00:00:00Z'), ['*'])[0];
  const oldestSe = servicesFromServiceEntry(se('early', 'oldest', { hosts: ['api.example.com'] }, '2019-01-01T00:00:00Z'), ['*'])[0];
  const privateSe = servicesFromServiceEntry(se('client', 'mine', { hosts: ['api.example.com'], exportTo: ['.'] }, '2025-01-01T00:00:00Z'), ['*'])[0];
  const hiddenSvc = serviceFromKubernetes(kube('secret', 'vault', { exportTo: ['.'] }), ['*']);
  const idx = new ServiceIndex([k8s, olderSe, newerSe, oldestSe, privateSe, hiddenSvc]);

  test.each<[string, string, string | undefined]>([
    [host, 'any', 'Kubernetes:prod/reviews'], // a Kubernetes Service beats an older ServiceEntry for its name
    ['api.example.com', 'any', 'ServiceEntry:early/oldest'], // the oldest ServiceEntry
    ['api.example.com', 'client', 'ServiceEntry:client/mine'], // private to the client namespace first
    ['vault.secret.svc.cluster.local', 'secret', 'Kubernetes:secret/vault'],
    ['vault.secret.svc.cluster.local', 'other', undefined], // exportTo "." via the annotation
    ['nothing.example.com', 'any', undefined],
  ])('%s from %s → %s', (h, client, want) => {
    expect(who(idx.forClient(h, client))).toBe(want);
  });

  test('byHost lists every namespace, oldest first', () => {
    expect(idx.byHost('api.example.com').map((s) => s.namespace)).toEqual(['early', 'squat2', 'client']);
  });
});

describe('ServiceIndex.resolve: wildcard ServiceEntry hosts cover concrete names', () => {
  const idx = new ServiceIndex([
    ...servicesFromServiceEntry(se('egress', 'wiki', { hosts: ['*.wikipedia.org'] }), ['*']),
    ...servicesFromServiceEntry(se('egress', 'wiki-en', { hosts: ['*.en.wikipedia.org'] }), ['*']),
    ...servicesFromServiceEntry(se('egress', 'exact', { hosts: ['www.wikipedia.org'] }), ['*']),
    ...servicesFromServiceEntry(se('hidden', 'mine', { hosts: ['*.corp.example'], exportTo: ['.'] }), ['*']),
  ]);
  test.each<[string, string, string | undefined]>([
    ['www.wikipedia.org', 'any', 'exact'],
    ['de.wikipedia.org', 'any', 'wiki'],
    ['m.en.wikipedia.org', 'any', 'wiki-en'],
    ['wikipedia.org', 'any', undefined],
    ['a.corp.example', 'any', undefined],
    ['a.corp.example', 'hidden', 'mine'],
  ])('%s from %s → %s', (h, client, want) => {
    expect(idx.resolve(h, client)?.name).toBe(want);
  });

  test('coveredBy lists the services a wildcard host covers', () => {
    expect(idx.coveredBy('*.wikipedia.org', 'any').map((s) => s.name).sort()).toEqual(['exact', 'wiki', 'wiki-en']);
  });
});

describe('endpoints', () => {
  const pods: PodRecord[] = [
    { namespace: 'vm', name: 'db-0', ip: '10.1.0.5', labels: { app: 'db', version: 'v1' }, serviceAccount: 'db' },
    { namespace: 'vm', name: 'web-0', ip: '10.1.0.6', labels: { app: 'web' }, serviceAccount: 'web' },
    { namespace: 'other', name: 'db-x', ip: '10.2.0.5', labels: { app: 'db' }, serviceAccount: 'db' },
  ];

  test('listed endpoints: port from the entry, else targetPort, else the port number', () => {
    const c = se('vm', 'mongo', {
      hosts: ['mongo.vm.internal'],
      ports: [
        { number: 27018, name: 'mongo', protocol: 'MONGO', targetPort: 27017 },
        { number: 9000, name: 'admin', protocol: 'HTTP' },
        { number: 9100, name: 'metrics', protocol: 'HTTP' },
      ],
      resolution: 'STATIC',
      endpoints: [
        { address: '2.2.2.2', ports: { metrics: 19100 }, labels: { zone: 'a' }, locality: 'us/east', weight: 3 },
        { address: '3.3.3.3', network: 'vpc-2', serviceAccount: 'mongo' },
      ],
    });
    const [svc] = servicesFromServiceEntry(c, ['*']);
    expect(serviceEntryEndpoints(c.spec, svc, pods)).toEqual([
      { address: '2.2.2.2', ports: { mongo: 27017, admin: 9000, metrics: 19100 }, labels: { zone: 'a' }, ready: true, locality: 'us/east', network: undefined, weight: 3, serviceAccount: undefined },
      { address: '3.3.3.3', ports: { mongo: 27017, admin: 9000, metrics: 9100 }, labels: {}, ready: true, locality: undefined, network: 'vpc-2', weight: undefined, serviceAccount: 'mongo' },
    ]);
  });

  test('workloadSelector picks pods of the entry namespace', () => {
    const c = se('vm', 'db', { hosts: ['db.vm.internal'], ports: [{ number: 5432, name: 'tcp', protocol: 'TCP' }], resolution: 'STATIC', workloadSelector: { labels: { app: 'db' } } });
    const [svc] = servicesFromServiceEntry(c, ['*']);
    expect(serviceEntryEndpoints(c.spec, svc, pods).map((e) => [e.address, e.ports, e.serviceAccount])).toEqual([['10.1.0.5', { tcp: 5432 }, 'db']]);
  });

  test('DNS without endpoints: the host itself; NONE without endpoints: nothing', () => {
    const dns = se('egress', 'dns', { hosts: ['api.example.com'], ports: [{ number: 443, name: 'https', protocol: 'TLS' }], resolution: 'DNS' });
    const [svc] = servicesFromServiceEntry(dns, ['*']);
    expect(serviceEntryEndpoints(dns.spec, svc, pods).map((e) => [e.address, e.ports])).toEqual([['api.example.com', { https: 443 }]]);
    const none = se('egress', 'none', { hosts: ['*.example.com'], ports: [{ number: 443, name: 'https', protocol: 'TLS' }] });
    const [noneSvc] = servicesFromServiceEntry(none, ['*']);
    expect(serviceEntryEndpoints(none.spec, noneSvc, pods)).toEqual([]);
  });

  test('Kubernetes endpoints keep ports by name and carry a locality', () => {
    expect(kubernetesEndpoints([{ address: '10.0.0.7', ready: false, ports: { http: 8080 }, labels: { app: 'r' }, zone: 'z1', region: 'r1' }])).toEqual([
      { address: '10.0.0.7', ports: { http: 8080 }, labels: { app: 'r' }, ready: false, locality: 'r1/z1', network: undefined, weight: undefined, serviceAccount: undefined },
    ]);
  });
});

describe('ServiceRegistry endpoints', () => {
  const ep = (address: string) => ({ address, ready: true, labels: {}, ports: { http: 8080 } });
  const addresses = (r: ServiceRegistry, ns: string, name: string) => r.endpoints(ns, name).map((e) => e.address).sort();

  test('a service has the endpoints of all its slices, and only of its namespace', () => {
    const r = new ServiceRegistry();
    r.upsertSlice('a', 'web-1', 'web', [ep('10.0.0.1')]);
    r.upsertSlice('a', 'web-2', 'web', [ep('10.0.0.2')]);
    r.upsertSlice('b', 'web-1', 'web', [ep('10.0.1.1')]);
    r.upsertSlice('a', 'db-1', 'db', [ep('10.0.0.3')]);
    expect(addresses(r, 'a', 'web')).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(addresses(r, 'b', 'web')).toEqual(['10.0.1.1']);
    expect(addresses(r, 'a', 'db')).toEqual(['10.0.0.3']);
  });

  test('a slice replaced, moved to another service, or deleted', () => {
    const r = new ServiceRegistry();
    r.upsertSlice('a', 's', 'web', [ep('10.0.0.1')]);
    r.upsertSlice('a', 's', 'web', [ep('10.0.0.9')]);
    expect(addresses(r, 'a', 'web')).toEqual(['10.0.0.9']);
    r.upsertSlice('a', 's', 'api', [ep('10.0.0.9')]);
    expect(addresses(r, 'a', 'web')).toEqual([]);
    expect(addresses(r, 'a', 'api')).toEqual(['10.0.0.9']);
    r.deleteSlice('a', 's');
    expect(addresses(r, 'a', 'api')).toEqual([]);
    expect(r.counts.endpointSlices).toBe(0);
  });
});
