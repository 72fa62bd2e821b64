// Informer caches keep what the mesh reads: the server-side apply bookkeeping (managedFields)
// and kubectl's last-applied copy are dropped from every object, the object left alone otherwise.
import { withoutBookkeeping } from '../../src/kube/informer.js';

test('managedFields and the last-applied annotation go; everything else stays', () => {
  const obj = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: {
      name: 'reviews',
      namespace: 'shop',
      resourceVersion: '7',
      generation: 2,
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"big":"copy"}', 'sidecar.istio.io/inject': 'false' },
      managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }],
    },
    spec: { hosts: ['reviews'] },
  };
  expect(withoutBookkeeping(obj)).toEqual({
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'reviews', namespace: 'shop', resourceVersion: '7', generation: 2, annotations: { 'sidecar.istio.io/inject': 'false' } },
    spec: { hosts: ['reviews'] },
  });
  expect(obj.metadata.managedFields).toHaveLength(1); // the object as received is not changed
  const plain = { metadata: { name: 'a', namespace: 'b' } };
  expect(withoutBookkeeping(plain)).toBe(plain);
});
