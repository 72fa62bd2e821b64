// What the discovery informers keep of each object: a Secret's credential keys only (never an
// application's password or the plug-in CA's key), a Pod's few fields the registry records, a
// Service's clusterIP (headless or not).
import { credentialFields, podFields, serviceRecord } from '../../src/controllers/discovery.js';
import { serviceFromKubernetes } from '../../src/model/mesh-services.js';
import { ServiceRegistry } from '../../src/model/services.js';

test('a Secret keeps its name and its credential keys, nothing else', () => {
  const kept = credentialFields({
    type: 'Opaque',
    metadata: { name: 'cacerts', namespace: 'trellis-system', resourceVersion: '7', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"ca-key.pem":"c2VjcmV0"}}' }, managedFields: [{ manager: 'kubectl' }] },
    data: { 'ca-key.pem': 'c2VjcmV0', 'ca-cert.pem': 'Y2VydA==', cert: 'Yw==', key: 'aw==', password: 'cA==' },
  });
  expect(kept).toEqual({ type: 'Opaque', metadata: { name: 'cacerts', namespace: 'trellis-system', resourceVersion: '7' }, data: { cert: 'Yw==', key: 'aw==' } });
});

test('a Pod keeps what the registry records', () => {
  const kept = podFields({
    metadata: { name: 'web-0', namespace: 'shop', uid: 'u-1', resourceVersion: '9', labels: { app: 'web' }, annotations: { big: 'x'.repeat(1000) } },
    spec: { serviceAccountName: 'web', containers: [{ name: 'app', image: 'web', env: [{ name: 'PASSWORD', value: 'secret' }] }] },
    status: { podIP: '10.244.0.9', phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
  });
  expect(kept).toEqual({ metadata: { name: 'web-0', namespace: 'shop', uid: 'u-1', resourceVersion: '9', labels: { app: 'web' } }, spec: { serviceAccountName: 'web', containers: [] }, status: { podIP: '10.244.0.9', phase: 'Running' } });
});

test('a headless Service read from the API is headless in the mesh: resolution NONE, no address', () => {
  const registry = new ServiceRegistry();
  const svc = (name: string, clusterIP: string) => ({ metadata: { name, namespace: 'db' }, spec: { clusterIP, selector: { app: name }, ports: [{ name: 'tcp', port: 27017 }] } });
  const headless = serviceFromKubernetes({ ...serviceRecord(svc('mongo', 'None')), hostname: registry.hostname('db', 'mongo') }, ['*']);
  expect(headless).toMatchObject({ resolution: 'NONE', addresses: [] });
  const normal = serviceFromKubernetes({ ...serviceRecord(svc('mysql', '10.96.0.5')), hostname: registry.hostname('db', 'mysql') }, ['*']);
  expect(normal).toMatchObject({ resolution: 'STATIC', addresses: ['10.96.0.5'] });
});
