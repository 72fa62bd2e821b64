import { MeshSnapshotProvider } from '../../src/translate/provider.js';
import { proxylessServices } from '../../src/translate/proxyless-services.js';
import { buildMesh } from '../support/mesh-fixtures.js';
import type { ProxyInfo } from '../../src/xds/proxy-info.js';
import { ALL_TYPES, TypeUrl } from '../../src/xds/types.js';

const mesh = buildMesh([{ namespace: 'default', name: 'echo', clusterIP: '10.96.0.7', ports: [{ name: 'grpc', port: 7070 }], endpoints: [{ address: '10.244.0.8' }, { address: '10.244.0.9', ready: false }] }]);
const client = { id: 'proxyless~10.244.0.3~c.default~default.svc.cluster.local', kind: 'proxyless', ip: '10.244.0.3', ips: ['10.244.0.3'], podName: 'c', namespace: 'default', labels: {}, metadata: { GENERATOR: 'grpc' }, generator: 'grpc' } as unknown as ProxyInfo;

test('a proxyless client sees each service port with its ready endpoints, by all its names', () => {
  expect(proxylessServices(mesh, client)).toEqual([
    { hostname: 'echo.default.svc.cluster.local', port: 7070, aliases: ['echo', 'echo.default', 'echo.default.svc'], endpoints: [{ address: '10.244.0.8', port: 7070 }] },
  ]);
});

test('the control plane serves a GENERATOR=grpc node api_listeners, not sidecar listeners', () => {
  const snap = new MeshSnapshotProvider(() => mesh).snapshot(client, new Set(ALL_TYPES));
  const listeners = [...snap[TypeUrl.Listener]!.keys()].sort();
  expect(listeners).toEqual(['echo.default.svc.cluster.local:7070', 'echo.default.svc:7070', 'echo.default:7070', 'echo:7070']);
  expect(snap[TypeUrl.Listener]!.get('echo:7070')?.api_listener).toBeDefined();
});
