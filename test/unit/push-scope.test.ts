import { proxiesIn, pushFor, scopeOf } from '../../src/push/changes.js';
import type { ChangeSet } from '../../src/model/config-store.js';

// Specs as plain objects, typed as the store would hand them over.
const change = (kind: ChangeSet['kind'], before: unknown, after: unknown): ChangeSet => ({ kind, namespace: 'shop', name: 'x', hosts: [], op: 'upsert', before, after }) as ChangeSet;
const proxies = [
  { id: 'side-shop', kind: 'sidecar', namespace: 'shop' },
  { id: 'side-blog', kind: 'sidecar', namespace: 'blog' },
  { id: 'gw', kind: 'router', namespace: 'ingress' },
];

test.each([
  ['a Gateway reaches gateways only', change('Gateway', undefined, { servers: [] }), ['gw']],
  ['a VirtualService bound only to gateways reaches gateways only', change('VirtualService', { hosts: ['a'], gateways: ['gw'] }, { hosts: ['a'], gateways: ['ingress/gw'] }), ['gw']],
  ['a VirtualService that was bound to the mesh reaches everyone', change('VirtualService', { hosts: ['a'], gateways: ['mesh'] }, { hosts: ['a'], gateways: ['gw'] }), ['side-shop', 'side-blog', 'gw']],
  ['exportTo "." reaches its namespace (and gateways)', change('DestinationRule', { exportTo: ['.'] }, { exportTo: ['.'] }), ['side-shop', 'gw']],
  ['narrowing exportTo from "*" reaches everyone who lost it', change('DestinationRule', { exportTo: ['*'] }, { exportTo: ['.'] }), ['side-shop', 'side-blog', 'gw']],
  ['exportTo by name reaches those namespaces', change('ServiceEntry', { exportTo: ['blog'] }, undefined), ['side-blog', 'gw']],
  ['no exportTo reaches everyone', change('VirtualService', undefined, { hosts: ['a'] }), ['side-shop', 'side-blog', 'gw']],
  ['exportTo "~" (nobody) reaches gateways only', change('DestinationRule', { exportTo: ['~'] }, { exportTo: ['~'] }), ['gw']],
  ['a delegate reaches everyone: it is seen through its roots, whatever its own exportTo', change('VirtualService', { exportTo: ['.'], http: [] }, { exportTo: ['.'], http: [] }), ['side-shop', 'side-blog', 'gw']],
])('%s', (_what, c, want) => {
  expect(proxiesIn(scopeOf(c), proxies)).toEqual(want);
});

test('a push for everyone names no proxies; an endpoint change pushes EDS only', () => {
  expect(pushFor(change('VirtualService', undefined, {}), proxies)).toEqual({ reason: 'config' });
  expect(pushFor({ kind: 'EndpointSlice', namespace: 'shop', name: 's', hosts: [], endpointsOnly: true })).toEqual({ reason: 'endpoints', types: ['type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment'] });
});

test('an authorization or request-authentication change pushes listeners and routes (inbound rules travel with the routes), nothing else', () => {
  for (const kind of ['AuthorizationPolicy', 'RequestAuthentication'] as const) {
    expect(pushFor(change(kind, undefined, {}), proxies)).toEqual({ reason: 'config', types: ['type.googleapis.com/envoy.config.listener.v3.Listener', 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration'] });
  }
});

test("a Telemetry change pushes listeners only: to its namespace's proxies (gateways there too), or everyone's from the root namespace", () => {
  const LDS = ['type.googleapis.com/envoy.config.listener.v3.Listener'];
  expect(pushFor(change('Telemetry', undefined, {}), proxies)).toEqual({ reason: 'config', types: LDS, proxies: ['side-shop'] });
  expect(pushFor({ ...change('Telemetry', undefined, {}), namespace: 'ingress' }, proxies)).toEqual({ reason: 'config', types: LDS, proxies: ['gw'] });
  expect(pushFor({ ...change('Telemetry', {}, undefined), namespace: 'mesh-root' }, proxies, 'mesh-root')).toEqual({ reason: 'config', types: LDS });
});
