// Which Services send to a workload's port, for the graph's service → workload edges: those
// whose selector the workload's pods match and whose target port (numeric, or named and
// resolved by the EndpointSlices) is that port.
import type { Endpoint, PodRecord, ServiceRecord } from '../../src/model/services.js';
import { scrapeTargets, servicesOfWorkloads } from '../../src/dashboard/traffic-watch.js';

const svc = (name: string, selector: Record<string, string>, ports: Array<{ port: number; targetPort: number | string; name?: string }>): ServiceRecord => ({
  namespace: 'shop',
  name,
  hostname: `${name}.shop.svc.cluster.local`,
  clusterIP: '10.96.0.1',
  ports: ports.map((p) => ({ name: p.name ?? '', protocol: 'TCP', ...p })),
  labels: {},
  selector,
  exportTo: [],
});
const pod = (name: string, labels: Record<string, string>): PodRecord => ({ namespace: 'shop', name, ip: '10.0.0.1', labels, serviceAccount: 'default' });

test('a workload port is reached through the Services that select its pods and target that port', () => {
  const services = [
    svc('reviews', { app: 'reviews' }, [{ port: 9080, targetPort: 9080 }]),
    svc('reviews-v2', { app: 'reviews', version: 'v2' }, [{ port: 80, targetPort: 'http', name: 'web' }]),
    svc('ratings', { app: 'ratings' }, [{ port: 9080, targetPort: 9080 }]),
    svc('headless', {}, [{ port: 9080, targetPort: 9080 }]),
  ];
  const pods = [pod('reviews-v1-6d5c9b7f8-abcde', { app: 'reviews', version: 'v1', 'pod-template-hash': '6d5c9b7f8' }), pod('reviews-v2-7f9d8c6b5-fghij', { app: 'reviews', version: 'v2', 'pod-template-hash': '7f9d8c6b5' })];
  const endpoints = (_ns: string, name: string): Endpoint[] => (name === 'reviews-v2' ? [{ address: '10.0.0.2', ready: true, labels: {}, ports: { web: 9080 } }] : []);
  const of = servicesOfWorkloads(services, pods, endpoints);
  expect(of('shop', 'reviews-v1', 9080)).toEqual(['reviews.shop.svc.cluster.local']);
  expect(of('shop', 'reviews-v2', 9080)).toEqual(['reviews-v2.shop.svc.cluster.local', 'reviews.shop.svc.cluster.local']);
  expect(of('shop', 'reviews-v1', 8080)).toEqual([]);
  expect(of('blog', 'reviews-v1', 9080)).toEqual([]);
});

test('a proxy is read at its pod IP from the API server, never at an address it claims; an unknown pod is not read', () => {
  const pods: Record<string, PodRecord> = { 'shop/web-1': pod('web-1', { app: 'web' }) };
  const podByName = (ns: string, name: string): PodRecord | undefined => pods[`${ns}/${name}`];
  // The node metadata's own IP (the forged 169.254.169.254, a cloud metadata address) plays no part.
  const proxies = [
    { id: 'sidecar~169.254.169.254~web-1.shop~shop.svc.cluster.local', namespace: 'shop', podName: 'web-1', ip: '169.254.169.254' },
    { id: 'sidecar~10.96.0.1~ghost.shop~shop.svc.cluster.local', namespace: 'shop', podName: 'ghost', ip: '10.96.0.1' },
    { id: 'router~10.0.0.9~x', namespace: undefined, podName: undefined, ip: '10.0.0.9' },
  ];
  expect(scrapeTargets(proxies, podByName)).toEqual([{ proxyId: 'sidecar~169.254.169.254~web-1.shop~shop.svc.cluster.local', ip: '10.0.0.1' }]);
});
