// Which AuthorizationPolicies a workload gets (its namespace, the root namespace, selectors,
// targetRefs) and where their filters go: every inbound chain that reaches the app or passes
// through, HTTP ports through the HTTP RBAC filter before routing, TCP ports and the passthrough
// through the network RBAC filter before tcp_proxy; gateways on their servers.
import type { AuthorizationPolicySpec } from '../../src/api/authorization-policy.js';
import { HTTP_RBAC_FILTER, NETWORK_RBAC_FILTER } from '../../src/translate/authz-filters.js';
import { gatewaySnapshot } from '../../src/translate/gateway.js';
import { sidecarSnapshot } from '../../src/translate/snapshot.js';
import { buildMesh, config, decoded, sidecar, type ServiceFixture } from '../../src/translate/testing/fixtures.js';
import { TypeUrl, type Listener } from '../../src/xds/types.js';

const SERVICES: ServiceFixture[] = [
  { namespace: 'shop', name: 'api', clusterIP: '10.96.0.10', selector: { app: 'api' }, ports: [{ name: 'http', port: 8080 }, { name: 'tcp-db', port: 9000 }] },
];
const policy = (namespace: string, name: string, spec: AuthorizationPolicySpec) => config('AuthorizationPolicy', namespace, name, spec);

describe('which policies apply to a workload', () => {
  const mesh = buildMesh(SERVICES, [
    policy('trellis-system', 'mesh-wide', { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['evil'] } }] }] }),
    policy('trellis-system', 'mesh-selected', { selector: { matchLabels: { app: 'api' } }, rules: [{}] }),
    policy('shop', 'namespace-wide', { rules: [{}] }),
    policy('shop', 'api-only', { selector: { matchLabels: { app: 'api' } }, rules: [{}] }),
    policy('shop', 'web-only', { selector: { matchLabels: { app: 'web' } }, rules: [{}] }),
    policy('other', 'elsewhere', { rules: [{}] }),
    policy('shop', 'gateway-api', { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge' }], rules: [{}] }),
    policy('shop', 'service-target', { targetRefs: [{ group: '', kind: 'Service', name: 'api' }], rules: [{}] }),
  ]);
  const names = (ns: string, labels: Record<string, string>): string[] => mesh.authorizationPoliciesFor(ns, labels).map((c) => `${c.namespace}/${c.name}`);

  test('own namespace and root namespace; selectors must match; oldest first', () => {
    expect(names('shop', { app: 'api' })).toEqual(['trellis-system/mesh-wide', 'trellis-system/mesh-selected', 'shop/namespace-wide', 'shop/api-only']);
    expect(names('shop', { app: 'web' })).toEqual(['trellis-system/mesh-wide', 'shop/namespace-wide', 'shop/web-only']);
    expect(names('quiet', {})).toEqual(['trellis-system/mesh-wide']);
  });

  test('targetRefs attach only to the Gateway API gateway they name (a Service target is for waypoints)', () => {
    expect(names('shop', { app: 'gw', 'gateway.networking.k8s.io/gateway-name': 'edge' })).toContain('shop/gateway-api');
    expect(names('shop', { app: 'api' })).not.toContain('shop/service-target');
    expect(names('shop', { app: 'api' })).not.toContain('shop/gateway-api');
  });
});

function inbound(listeners: ReadonlyMap<string, Listener>): Listener {
  return listeners.get('virtualInbound')!;
}

const filterNames = (chain: { filters?: { name?: string; typed_config?: unknown }[] | null }): string[] => (chain.filters ?? []).map((f) => f.name ?? '');
function httpFilterNames(chain: { filters?: { name?: string; typed_config?: unknown }[] | null }): string[] {
  const hcm = decoded(chain.filters?.[0]?.typed_config) as { http_filters?: { name: string }[] };
  return (hcm.http_filters ?? []).map((f) => f.name);
}

describe('where the filters go', () => {
  const deny = policy('shop', 'deny-evil', { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['evil'] } }] }] });
  const allow = policy('shop', 'allow-get', { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] });
  const mesh = buildMesh(SERVICES, [deny, allow]);
  const listeners = sidecarSnapshot(mesh, sidecar('shop', { app: 'api' }))[TypeUrl.Listener]!;
  const chains = inbound(listeners).filter_chains ?? [];

  test('HTTP port: DENY then ALLOW RBAC filters before the router, on the mTLS and plaintext chains', () => {
    for (const name of ['inbound|8080||-mtls', 'inbound|8080||']) {
      const chain = chains.find((c) => c.name === name)!;
      expect(httpFilterNames(chain)).toEqual([HTTP_RBAC_FILTER, HTTP_RBAC_FILTER, 'envoy.filters.http.cors', 'envoy.filters.http.fault', 'envoy.filters.http.router']);
      const [first, second] = ((decoded(chain.filters?.[0]?.typed_config) as { http_filters: { typed_config: unknown }[] }).http_filters).map((f) => decoded(f.typed_config) as { rules?: { action?: string } });
      expect([first!.rules?.action, second!.rules?.action]).toEqual(['DENY', 'ALLOW']);
    }
  });

  test('TCP port, app-terminated TLS and the passthrough: network RBAC before tcp_proxy', () => {
    for (const name of ['inbound|9000||-mtls', 'inbound|9000||', 'inbound|9000||-tls', 'inbound|8080||-tls']) {
      expect(filterNames(chains.find((c) => c.name === name)!)).toEqual([NETWORK_RBAC_FILTER, NETWORK_RBAC_FILTER, 'envoy.filters.network.tcp_proxy']);
    }
    expect(filterNames(inbound(listeners).default_filter_chain!)).toEqual([NETWORK_RBAC_FILTER, NETWORK_RBAC_FILTER, 'envoy.filters.network.tcp_proxy']);
  });

  test('on TCP, the ALLOW rule with an HTTP-only field is dropped: the ALLOW filter has no policies (nothing allowed)', () => {
    const tcp = chains.find((c) => c.name === 'inbound|9000||')!;
    const allowFilter = decoded(tcp.filters?.[1]?.typed_config) as { rules?: { policies?: Record<string, unknown> } };
    expect(Object.keys(allowFilter.rules?.policies ?? {})).toEqual([]);
  });

  test('a workload no policy selects gets no RBAC filter', () => {
    const other = sidecarSnapshot(buildMesh(SERVICES, [policy('shop', 'web', { selector: { matchLabels: { app: 'web' } }, rules: [{}] })]), sidecar('shop', { app: 'api' }))[TypeUrl.Listener]!;
    for (const chain of inbound(other).filter_chains ?? []) expect(filterNames(chain)).not.toContain(NETWORK_RBAC_FILTER);
  });

  test('a gateway gets the policies that select it on its HTTP servers', () => {
    const gw = config('Gateway', 'shop', 'edge', { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] });
    const gwPolicy = policy('shop', 'gw-deny', { selector: { matchLabels: { istio: 'ingressgateway' } }, action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] });
    const snap = gatewaySnapshot(buildMesh(SERVICES, [gw, gwPolicy]), sidecar('shop', { istio: 'ingressgateway' }));
    const listener = [...snap[TypeUrl.Listener]!.values()][0]!;
    expect(httpFilterNames(listener.filter_chains![0]!)[0]).toBe(HTTP_RBAC_FILTER);
  });
});
