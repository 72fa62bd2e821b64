// Which AuthorizationPolicies a workload gets (its namespace, the root namespace, selectors,
// targetRefs) and where their filters go: every inbound chain that reaches the app or passes
// through, HTTP ports through the HTTP RBAC filter before routing, TCP ports and the passthrough
// through the network RBAC filter before tcp_proxy (the HTTP rules per route, so a change is a
// route update); gateways on their servers, as Istio builds them.
import type { AuthorizationPolicySpec } from '../../src/api/authorization-policy.js';
import { HTTP_RBAC_FILTER, NETWORK_RBAC_FILTER } from '../../src/translate/authz-filters.js';
import { INBOUND_RBAC_FILTERS } from '../../src/translate/authz-chain.js';
import { gatewaySnapshot } from '../../src/translate/gateway.js';
import { sidecarSnapshot } from '../../src/translate/snapshot.js';
import { buildMesh, config, decoded, sidecar, type ServiceFixture } from '../support/mesh-fixtures.js';
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
  const snapshot = sidecarSnapshot(mesh, sidecar('shop', { app: 'api' }));
  const listeners = snapshot[TypeUrl.Listener]!;
  const routes = snapshot[TypeUrl.Route]!;
  const chains = inbound(listeners).filter_chains ?? [];

  test('HTTP port: the listener always has the AUDIT, DENY and ALLOW RBAC filters before the router; their rules come with the routes', () => {
    for (const name of ['inbound|8080||-mtls', 'inbound|8080||']) {
      const chain = chains.find((c) => c.name === name)!;
      expect(httpFilterNames(chain)).toEqual([INBOUND_RBAC_FILTERS.AUDIT, INBOUND_RBAC_FILTERS.DENY, INBOUND_RBAC_FILTERS.ALLOW, 'envoy.filters.http.cors', 'envoy.filters.http.fault', 'envoy.filters.http.router']);
      // Without rules of their own: nothing in the listener changes with the policies.
      const configs = (decoded(chain.filters?.[0]?.typed_config) as { http_filters: { typed_config: unknown }[] }).http_filters.slice(0, 3).map((f) => decoded(f.typed_config) as { rules?: unknown });
      expect(configs.map((c) => c.rules ?? undefined)).toEqual([undefined, undefined, undefined]);
    }
    const perRoute = routes.get('inbound|8080||')?.virtual_hosts?.[0]?.typed_per_filter_config ?? {};
    expect(Object.keys(perRoute).sort()).toEqual([INBOUND_RBAC_FILTERS.ALLOW, INBOUND_RBAC_FILTERS.DENY].sort());
    const rules = (name: string) => (decoded(perRoute[name]) as { rbac: { rules: { action?: string; policies: Record<string, unknown> } } }).rbac.rules;
    expect(rules(INBOUND_RBAC_FILTERS.DENY).action).toBe('DENY');
    expect(Object.keys(rules(INBOUND_RBAC_FILTERS.DENY).policies)).toEqual(['ns[shop]-policy[deny-evil]-rule[0]']);
    expect(Object.keys(rules(INBOUND_RBAC_FILTERS.ALLOW).policies)).toEqual(['ns[shop]-policy[allow-get]-rule[0]']);
  });

  test('a policy change changes the routes only: the inbound listener stays the same', () => {
    const changed = sidecarSnapshot(buildMesh(SERVICES, [deny]), sidecar('shop', { app: 'api' }));
    const httpChains = (ls: ReadonlyMap<string, Listener>) => (inbound(ls).filter_chains ?? []).filter((c) => c.name === 'inbound|8080||' || c.name === 'inbound|8080||-mtls');
    expect(httpChains(changed[TypeUrl.Listener]!)).toEqual(httpChains(listeners));
    expect(changed[TypeUrl.Route]!.get('inbound|8080||')).not.toEqual(routes.get('inbound|8080||'));
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
