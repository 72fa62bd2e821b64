// The objects both control planes are given and the proxies both are asked about (pure): S
// Services, each with an EndpointSlice of two ready endpoints (written by the benchmark: no pods)
// and a VirtualService; N simulated sidecars, client p a pod of service p mod S, named and described
// as Istio's agent describes an Envoy (node id `sidecar~IP~pod.ns~ns.svc.cluster.local`, the
// ISTIO_META_* metadata).
import type { Node } from '../../src/xds/generated/envoy/config/core/v3/Node.js';
import type { Value } from '../../src/xds/generated/google/protobuf/Value.js';

export const NAMESPACE = 'vs-istiod';
export const DOMAIN = 'cluster.local';

export const serviceName = (k: number): string => `svc-${k}`;
/**
 * Endpoint e of service k, outside the devcluster's ranges: 10.250+e.(k/256).(k%256) for the
 * first two (as first measured), 10.200+e.… for the others (e < 50).
 */
export const endpointIp = (k: number, e: number): string => `10.${e < 2 ? 250 + e : 200 + e}.${(k >> 8) & 255}.${k & 255}`;

/** The i-th address an endpoint moves to in the churn phase: 10.252-253.x.y, unused by endpointIp. */
export const churnIp = (i: number): string => `10.${252 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}`;

/** The EDS name both control planes give service k's port (Istio's `outbound|port|subset|host`). */
export const edsClusterName = (k: number): string => `outbound|80||${serviceName(k)}.${NAMESPACE}.svc.${DOMAIN}`;

/**
 * The bytes a ClusterLoadAssignment holds once it carries endpoint address `ip`: the
 * SocketAddress.address field (2, length-delimited) with its tag and length, so 10.252.0.1 is not
 * found inside 10.252.0.12.
 */
export const addressBytes = (ip: string): Buffer => Buffer.concat([Buffer.from([0x12, ip.length]), Buffer.from(ip)]);

export function service(k: number): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: serviceName(k), namespace: NAMESPACE, labels: { app: serviceName(k) } },
    // The selector matches the simulated sidecars' labels (no pod has them: the endpoints are the
    // EndpointSlice below), so each control plane gives a sidecar the inbound side of its service.
    spec: { selector: { app: serviceName(k) }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  };
}

/** Service k's EndpointSlice: `endpoints` ready addresses (at least 2: the churn phase moves the second). */
export function endpointSlice(k: number, endpoints = 2): Record<string, unknown> {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${serviceName(k)}-bench`, namespace: NAMESPACE, labels: { 'kubernetes.io/service-name': serviceName(k), 'endpointslice.kubernetes.io/managed-by': 'bench.trellis.io' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: endpoints }, (_, e) => ({ addresses: [endpointIp(k, e)], conditions: { ready: true, serving: true, terminating: false } })),
  };
}

/**
 * The spec of VirtualService k: a route matching the path prefix `/<marker>/` and a default
 * route, both to the service. A change writes a new marker; a client has the change when a
 * RouteConfiguration it received contains the marker's bytes.
 */
export function virtualServiceSpec(k: number, marker: string): Record<string, unknown> {
  const destination = { host: serviceName(k), port: { number: 80 } };
  return {
    hosts: [serviceName(k)],
    http: [
      { name: 'marked', match: [{ uri: { prefix: `/${marker}/` } }], route: [{ destination }], timeout: '5s' },
      { name: 'default', route: [{ destination }] },
    ],
  };
}

export function virtualService(k: number, marker: string): Record<string, unknown> {
  return { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: serviceName(k), namespace: NAMESPACE }, spec: virtualServiceSpec(k, marker) };
}

/** The marker of VirtualService k as created (the same for both control planes). */
export const baseMarker = (k: number): string => `base-${k}`;

/** The bytes a route configuration holds once it carries `marker` (the path prefix with its slashes). */
export const markerBytes = (marker: string): Buffer => Buffer.from(`/${marker}/`);

const str = (s: string): Value => ({ stringValue: s });
const struct = (o: Record<string, Value>): Value => ({ structValue: { fields: o } });

/** Simulated sidecar p: a pod of service p mod S, as Istio's agent would describe its Envoy. */
export function istioNode(p: number, services: number, istioVersion: string): Node {
  const k = p % services;
  const app = serviceName(k);
  const pod = `${app}-bench-${p}`;
  const ip = endpointIp(k, 0);
  return {
    id: `sidecar~${ip}~${pod}.${NAMESPACE}~${NAMESPACE}.svc.${DOMAIN}`,
    cluster: `${app}.${NAMESPACE}`,
    user_agent_name: 'envoy',
    metadata: {
      fields: {
        NAME: str(pod),
        NAMESPACE: str(NAMESPACE),
        CLUSTER_ID: str('Kubernetes'),
        MESH_ID: str(DOMAIN),
        ISTIO_VERSION: str(istioVersion),
        INTERCEPTION_MODE: str('REDIRECT'),
        INSTANCE_IPS: str(ip),
        SERVICE_ACCOUNT: str('default'),
        WORKLOAD_NAME: str(app),
        OWNER: str(`kubernetes://apis/apps/v1/namespaces/${NAMESPACE}/deployments/${app}`),
        LABELS: struct({ app: str(app), 'service.istio.io/canonical-name': str(app), 'service.istio.io/canonical-revision': str('latest') }),
        POD_PORTS: str('[{"name":"http","containerPort":8080,"protocol":"TCP"}]'),
        ENVOY_STATUS_PORT: { numberValue: 15021 },
        ENVOY_PROMETHEUS_PORT: { numberValue: 15090 },
      },
    },
  };
}
