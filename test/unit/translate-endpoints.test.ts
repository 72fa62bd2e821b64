// ClusterLoadAssignments: ready endpoints only, the service port's endpoint port, subsets by pod
// labels, localities from the EndpointSlice zone and region.
import { loadAssignment } from '../../src/translate/endpoints.js';
import { sidecarEndpoints } from '../../src/translate/snapshot.js';
import { buildMesh, config, sidecar } from '../../src/translate/testing/fixtures.js';
import type { MeshEndpoint } from '../../src/model/service-entries.js';

const ep = (address: string, extra: Partial<MeshEndpoint> = {}): MeshEndpoint => ({
  address,
  ports: { http: 8080 },
  labels: {},
  ready: true,
  locality: undefined,
  network: undefined,
  weight: undefined,
  serviceAccount: undefined,
  ...extra,
});
const port = { name: 'http', number: 80, protocol: 'HTTP', targetPort: 8080 };
const addresses = (cla: ReturnType<typeof loadAssignment>) => (cla.endpoints ?? []).flatMap((g) => (g.lb_endpoints ?? []).map((e) => `${e.endpoint?.address?.socket_address?.address}:${e.endpoint?.address?.socket_address?.port_value}`));

test.each([
  ['ready endpoints only', [ep('10.0.0.1'), ep('10.0.0.2', { ready: false })], undefined, ['10.0.0.1:8080']],
  ['the endpoint port of the service port name', [ep('10.0.0.1', { ports: { http: 9999 } })], undefined, ['10.0.0.1:9999']],
  ['a numeric targetPort when the endpoint has no port of that name', [ep('10.0.0.1', { ports: {} })], undefined, ['10.0.0.1:8080']],
  ['a subset: only endpoints whose labels match', [ep('10.0.0.1', { labels: { version: 'v1', app: 'r' } }), ep('10.0.0.2', { labels: { version: 'v2' } })], { version: 'v1' }, ['10.0.0.1:8080']],
  ['an empty subset selector takes all', [ep('10.0.0.1'), ep('10.0.0.2')], {}, ['10.0.0.1:8080', '10.0.0.2:8080']],
  ['no endpoints', [], undefined, []],
])('%s', (_name, endpoints, labels, want) => {
  expect(addresses(loadAssignment('c', endpoints, port, labels))).toEqual(want);
});

test('endpoints are grouped by locality, with weights', () => {
  const cla = loadAssignment('c', [ep('10.0.0.1', { locality: 'us-east/us-east-1a' }), ep('10.0.0.2', { locality: 'us-east/us-east-1b', weight: 3 }), ep('10.0.0.3', { locality: 'us-east/us-east-1a' })], port);
  expect(cla.cluster_name).toBe('c');
  expect(cla.endpoints?.map((g) => [g.locality, g.lb_endpoints?.length])).toEqual([
    [{ region: 'us-east', zone: 'us-east-1a', sub_zone: '' }, 2],
    [{ region: 'us-east', zone: 'us-east-1b', sub_zone: '' }, 1],
  ]);
  expect(cla.endpoints?.[1].lb_endpoints?.[0].load_balancing_weight).toEqual({ value: 3 });
});

test('one assignment per EDS cluster of the sidecar, subsets filtered by pod labels', () => {
  const mesh = buildMesh(
    [
      {
        namespace: 'prod',
        name: 'reviews',
        clusterIP: '10.96.0.1',
        ports: [{ name: 'http', port: 9080 }],
        endpoints: [
          { address: '10.1.0.1', labels: { version: 'v1' }, zone: 'a', region: 'r' },
          { address: '10.1.0.2', labels: { version: 'v2' } },
        ],
      },
    ],
    [config('DestinationRule', 'prod', 'reviews', { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] })],
  );
  const byName = new Map(sidecarEndpoints(mesh, sidecar('prod')).map((c) => [c.cluster_name, addresses(c)]));
  expect([...byName.keys()]).toEqual(['outbound|9080||reviews.prod.svc.cluster.local', 'outbound|9080|v1|reviews.prod.svc.cluster.local', 'outbound|9080|v2|reviews.prod.svc.cluster.local']);
  expect(byName.get('outbound|9080||reviews.prod.svc.cluster.local')).toEqual(['10.1.0.1:9080', '10.1.0.2:9080']);
  expect(byName.get('outbound|9080|v1|reviews.prod.svc.cluster.local')).toEqual(['10.1.0.1:9080']);
  expect(byName.get('outbound|9080|v2|reviews.prod.svc.cluster.local')).toEqual(['10.1.0.2:9080']);
});
