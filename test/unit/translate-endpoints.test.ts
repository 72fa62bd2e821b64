// ClusterLoadAssignments: ready endpoints only, the service port's endpoint port, subsets by pod
// labels, localities from the EndpointSlice zone and region.
import { loadAssignment, withLocalityFailover } from '../../src/translate/endpoints.js';
import { sidecarEndpoints } from '../../src/translate/endpoints.js';
import { buildMesh, config, sidecar } from '../support/mesh-fixtures.js';
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

test.each([
  ['no proxy locality: no priorities', undefined, [undefined, undefined, undefined, undefined]],
  ['same zone first, then region, then the rest', { region: 'r1', zone: 'z1', subZone: '' }, [0, 1, 2, 1]],
  ['another region: all but the own-region ones are last', { region: 'r2', zone: 'x', subZone: '' }, [1, 1, 0, 1]],
])('locality failover: %s', (_name, proxy, want) => {
  const cla = loadAssignment('c', [ep('1', { locality: 'r1/z1' }), ep('2', { locality: 'r1/z2' }), ep('3', { locality: 'r2/z9' }), ep('4', { locality: 'r1/z3' })], port);
  expect(withLocalityFailover(cla, proxy).endpoints?.map((g) => g.priority)).toEqual(want);
});

test('locality failover applies to clusters with outlier detection only', () => {
  const services = [{ namespace: 'prod', name: 'a', clusterIP: '10.96.0.1', ports: [{ name: 'http', port: 80 }], endpoints: [{ address: '10.1.0.1', zone: 'z1', region: 'r1' }, { address: '10.1.0.2', zone: 'z2', region: 'r1' }] }];
  const proxy = { ...sidecar('prod'), locality: { region: 'r1', zone: 'z2', subZone: '' } };
  const prio = (dr: object) => sidecarEndpoints(buildMesh(services, [config('DestinationRule', 'prod', 'a', { host: 'a', ...dr })]), proxy)[0].endpoints?.map((g) => g.priority);
  expect(prio({ trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 } } })).toEqual([1, 0]);
  expect(prio({ trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 }, loadBalancer: { localityLbSetting: { enabled: false } } } })).toEqual([undefined, undefined]);
  expect(prio({ trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } })).toEqual([undefined, undefined]);
});
