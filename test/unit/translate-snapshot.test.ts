// The whole sidecar snapshot: every type, Istio's names, resources that encode as Envoy
// messages, EDS assignments exactly for the EDS clusters, and the SnapshotProvider.
import { MeshSnapshotProvider } from '../../src/translate/provider.js';
import { sidecarSnapshot } from '../../src/translate/snapshot.js';
import { buildMesh, config, sidecar } from '../support/mesh-fixtures.js';
import { encodeMessage } from '../../src/xds/protos.js';
import { parseNode } from '../../src/xds/proxy-info.js';
import { messageName, TypeUrl } from '../../src/xds/types.js';

const mesh = buildMesh(
  [
    { namespace: 'prod', name: 'reviews', clusterIP: '10.96.0.1', ports: [{ name: 'http', port: 9080 }], endpoints: [{ address: '10.1.0.1', labels: { version: 'v1' } }] },
    { namespace: 'prod', name: 'db', clusterIP: '10.96.0.2', ports: [{ name: 'tcp', port: 5432 }] },
    { namespace: 'prod', name: 'web', clusterIP: '10.96.0.3', ports: [{ name: 'http', port: 80, targetPort: 8080 }], selector: { app: 'web' } },
  ],
  [
    config('DestinationRule', 'prod', 'reviews', { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }] }),
    config('VirtualService', 'prod', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] }),
  ],
);
const proxy = sidecar('prod', { app: 'web' }, '10.1.0.9');

test('every type, with Istio names', () => {
  const s = sidecarSnapshot(mesh, proxy);
  expect([...(s[TypeUrl.Listener]?.keys() ?? [])]).toEqual(['virtualOutbound', '0.0.0.0_80', '0.0.0.0_5432', '0.0.0.0_9080', 'virtualInbound']);
  // Outbound route tables by port, and the inbound routes of the pod's own HTTP port (RDS).
  expect([...(s[TypeUrl.Route]?.keys() ?? [])]).toEqual(['80', '9080', 'inbound|8080||']);
  expect([...(s[TypeUrl.Cluster]?.keys() ?? [])].sort()).toEqual(
    [
      'BlackHoleCluster',
      'InboundPassthroughCluster',
      'PassthroughCluster',
      'inbound|8080||',
      'outbound|5432||db.prod.svc.cluster.local',
      'outbound|80||web.prod.svc.cluster.local',
      'outbound|9080||reviews.prod.svc.cluster.local',
      'outbound|9080|v1|reviews.prod.svc.cluster.local',
    ].sort(),
  );
  // An assignment for every EDS cluster, and only those.
  const eds = [...(s[TypeUrl.Cluster]?.values() ?? [])].filter((c) => c.type === 'EDS').map((c) => c.name).sort();
  expect([...(s[TypeUrl.Endpoint]?.keys() ?? [])].sort()).toEqual(eds);
  expect(s[TypeUrl.Listener]?.get('virtualOutbound')?.address?.socket_address?.port_value).toBe(15001);
  expect(s[TypeUrl.Listener]?.get('virtualInbound')?.address?.socket_address?.port_value).toBe(15006);
});

test('every resource encodes as its Envoy message', () => {
  const s = sidecarSnapshot(mesh, proxy, { outboundPolicy: 'REGISTRY_ONLY' });
  let n = 0;
  for (const [type, resources] of Object.entries(s)) {
    for (const r of (resources as Map<string, object>).values()) {
      expect(() => encodeMessage(messageName(type), r)).not.toThrow();
      n++;
    }
  }
  expect(n).toBeGreaterThan(15);
});

test('options move the capture ports', () => {
  const s = sidecarSnapshot(mesh, proxy, { outboundPort: 25001, inboundPort: 25006 });
  expect(s[TypeUrl.Listener]?.get('virtualOutbound')?.address?.socket_address?.port_value).toBe(25001);
  expect(s[TypeUrl.Listener]?.get('virtualInbound')?.address?.socket_address?.port_value).toBe(25006);
});

test('the provider answers the requested types for a proxy parsed from its node', () => {
  const provider = new MeshSnapshotProvider(() => mesh);
  const info = parseNode({ id: 'sidecar~10.1.0.9~web-0.prod~prod.svc.cluster.local', metadata: { fields: { LABELS: { kind: 'structValue', structValue: { fields: { app: { kind: 'stringValue', stringValue: 'web' } } } } } } } as never);
  const s = provider.snapshot(info, new Set([TypeUrl.Cluster, TypeUrl.Route]));
  expect(Object.keys(s).sort()).toEqual([TypeUrl.Cluster, TypeUrl.Route].sort());
  expect(s[TypeUrl.Cluster]?.has('inbound|8080||')).toBe(true);
});

test('only the types asked for are built, and they equal those of the whole snapshot', () => {
  const whole = sidecarSnapshot(mesh, proxy);
  const eds = sidecarSnapshot(mesh, proxy, {}, new Set([TypeUrl.Endpoint]));
  expect(Object.keys(eds)).toEqual([TypeUrl.Endpoint]);
  expect(eds[TypeUrl.Endpoint]).toEqual(whole[TypeUrl.Endpoint]);
});
