// A realistic MeshView (what GET /debug/mesh/state returns) for the mesh page's previews and
// tests: bookinfo behind an ingress gateway (productpage → reviews v1/v2/v3 → ratings, details),
// a load-generator client calling reviews directly, one proxy that NACKed a route, one
// VirtualService whose rollout that NACK holds back, and a rejected DestinationRule. The NACK
// text carries markup, as an attacker-named object's would: the page must show it as text.
import type { ConfigView, GraphEdge, GraphNode, MeshView, ProxyView } from '../../src/dashboard/mesh-view.js';

const NS = 'bookinfo';
const NACK_TEXT =
  "Error adding/updating listener(s) virtualOutbound: route reviews.bookinfo.svc.cluster.local:9080: invalid regex '<img src=x onerror=alert(1)>(': missing )";

function proxyId(pod: string, ip: string, namespace = NS, kind = 'sidecar'): string {
  return `${kind}~${ip}~${pod}.${namespace}~${namespace}.svc.cluster.local`;
}

function proxies(now: Date): ProxyView[] {
  const since = (minutesAgo: number) => new Date(now.getTime() - minutesAgo * 60_000).toISOString();
  const sidecar = (workload: string, pod: string, ip: string, minutesAgo: number, extra: Partial<ProxyView> = {}): ProxyView => ({
    id: proxyId(pod, ip),
    kind: 'sidecar',
    namespace: NS,
    pod,
    workload,
    connectedAt: since(minutesAgo),
    sync: 'SYNCED',
    ...extra,
  });
  return [
    {
      id: proxyId('istio-ingressgateway-6d8b9c7f4-x2k9p', '10.244.0.10', 'istio-system', 'router'),
      kind: 'router',
      namespace: 'istio-system',
      pod: 'istio-ingressgateway-6d8b9c7f4-x2k9p',
      workload: 'istio-ingressgateway',
      connectedAt: since(185),
      sync: 'SYNCED',
    },
    sidecar('productpage-v1', 'productpage-v1-5b9c8d7f6-abcde', '10.244.0.21', 180),
    sidecar('details-v1', 'details-v1-7f8d9c6b5-fghij', '10.244.0.22', 180),
    sidecar('reviews-v1', 'reviews-v1-6c7d8e9f0-klmno', '10.244.0.23', 179),
    sidecar('reviews-v2', 'reviews-v2-5d6e7f8a9-pqrst', '10.244.0.24', 42, { sync: 'NACK', nack: NACK_TEXT }),
    sidecar('reviews-v3', 'reviews-v3-4e5f6a7b8-uvwxy', '10.244.0.25', 12, { sync: 'STALE' }),
    sidecar('ratings-v1', 'ratings-v1-3f4a5b6c7-zabcd', '10.244.0.26', 179),
    {
      id: proxyId('loadgen-8c9d0e1f2-efghi', '10.244.0.40', 'load'),
      kind: 'proxyless',
      namespace: 'load',
      pod: 'loadgen-8c9d0e1f2-efghi',
      workload: 'loadgen',
      connectedAt: since(30),
      sync: 'SYNCED',
    },
  ];
}

function configs(nackedProxy: string): ConfigView[] {
  const base = { accepted: true, message: '', rejected: [] };
  return [
    { ...base, kind: 'Gateway', namespace: NS, name: 'bookinfo-gateway', generation: 1, reached: 1, upToDate: 1 },
    { ...base, kind: 'VirtualService', namespace: NS, name: 'bookinfo', generation: 3, reached: 1, upToDate: 1 },
    {
      ...base,
      kind: 'VirtualService',
      namespace: NS,
      name: 'reviews',
      generation: 7,
      reached: 7,
      upToDate: 5,
      rejected: [{ proxy: nackedProxy, message: NACK_TEXT }],
    },
    { ...base, kind: 'DestinationRule', namespace: NS, name: 'reviews', generation: 2, reached: 7, upToDate: 6 },
    {
      ...base,
      kind: 'DestinationRule',
      namespace: NS,
      name: 'ratings',
      generation: 4,
      accepted: false,
      message: 'DestinationRule bookinfo/ratings: spec.trafficPolicy.loadBalancer.consistentHash: exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName must be set',
      reached: 0,
      upToDate: 0,
    },
    {
      ...base,
      kind: 'VirtualService',
      namespace: NS,
      name: 'ratings',
      generation: 1,
      message: 'VirtualService bookinfo/ratings: spec.http[0].route[0].destination.host: "ratings" is a short name; it resolves in the VirtualService\'s namespace',
      reached: 7,
      upToDate: 7,
    },
    { ...base, kind: 'ServiceEntry', namespace: 'load', name: 'httpbin-external', generation: 1, reached: 8, upToDate: 8 },
  ];
}

function graph(): MeshView['graph'] {
  const workload = (namespace: string, name: string): GraphNode => ({ id: `workload:${namespace}/${name}`, kind: 'workload', namespace, name });
  const service = (namespace: string, name: string): GraphNode => {
    const host = `${name}.${namespace}.svc.cluster.local`;
    return { id: `service:${host}`, kind: 'service', namespace, name: host };
  };
  const nodes: GraphNode[] = [
    workload('istio-system', 'istio-ingressgateway'),
    service(NS, 'productpage'),
    workload(NS, 'productpage-v1'),
    service(NS, 'details'),
    workload(NS, 'details-v1'),
    service(NS, 'reviews'),
    workload(NS, 'reviews-v1'),
    workload(NS, 'reviews-v2'),
    workload(NS, 'reviews-v3'),
    service(NS, 'ratings'),
    workload(NS, 'ratings-v1'),
    workload('load', 'loadgen'),
    // Deployed but not called in the window: hidden unless "show idle" is ticked.
    service(NS, 'mongodb'),
    workload(NS, 'mongodb-v1'),
  ];
  const edge = (source: GraphNode, target: GraphNode, rps: number, errorRate = 0, p99Ms: number | null = 20): GraphEdge => ({ source: source.id, target: target.id, rps, errorRate, p99Ms });
  const [gw, ppSvc, pp, detailsSvc, details, reviewsSvc, r1, r2, r3, ratingsSvc, ratings, loadgen] = nodes;
  return {
    nodes,
    edges: [
      edge(gw, ppSvc, 24.5, 0, 48.2),
      edge(ppSvc, pp, 24.5, 0, 47.9),
      edge(pp, detailsSvc, 24.5, 0, 6.1),
      edge(detailsSvc, details, 24.5, 0, 5.8),
      edge(pp, reviewsSvc, 24.5, 0.012, 38.4),
      edge(loadgen, reviewsSvc, 110.2, 0.003, 41.7),
      edge(reviewsSvc, r1, 44.9, 0, 12.3),
      edge(reviewsSvc, r2, 44.9, 0.021, 95.0),
      edge(reviewsSvc, r3, 44.9, 0, 31.6),
      edge(r2, ratingsSvc, 44.9, 0, 9.2),
      edge(r3, ratingsSvc, 44.9, 0, 8.7),
      edge(ratingsSvc, ratings, 89.8, 0, 8.1),
    ],
    windowSeconds: 15,
    // Seven Envoys (the proxyless loadgen has no statistics to read), one of which did not answer.
    scraped: 6,
    failed: [{ proxy: proxyId('reviews-v3-4e5f6a7b8-uvwxy', '10.244.0.25'), error: 'GET http://10.244.0.25:15090/stats/prometheus: connect ECONNREFUSED' }],
  };
}

/** The sample, as the control plane would have generated it at `now`. */
export function meshViewSample(now = new Date('2025-06-01T12:00:00Z')): MeshView {
  const ps = proxies(now);
  const nacked = ps.find((p) => p.sync === 'NACK');
  if (!nacked) throw new Error('sample has no NACKed proxy');
  return { generatedAt: now.toISOString(), proxies: ps, configs: configs(nacked.id), graph: graph() };
}
