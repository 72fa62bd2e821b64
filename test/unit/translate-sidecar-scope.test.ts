// The Sidecar resource: which one a proxy takes (workload selector, namespace default, mesh
// default in the root namespace) and what it then sees (egress hosts, VirtualServices of the
// imported namespaces and their destinations, port-specific listeners, outboundTrafficPolicy),
// as Istio's SidecarScope decides; gateways are never narrowed.
import type { AnyConfig } from '../../src/model/config-store.js';
import { warningsFor } from '../../src/model/warnings.js';
import { DEFAULT_SIDECAR_OPTIONS } from '../../src/translate/input.js';
import { SidecarShare } from '../../src/translate/outbound.js';
import { sidecarSnapshot } from '../../src/translate/snapshot.js';
import { gatewaySnapshot } from '../../src/translate/gateway.js';
import { TypeUrl, type Listener, type RouteConfiguration } from '../../src/xds/types.js';
import { buildMesh, config, decoded, sidecar, type ServiceFixture } from '../support/mesh-fixtures.js';

const services: ServiceFixture[] = [
  { namespace: 'a', name: 'web', clusterIP: '10.96.1.1', ports: [{ name: 'http', port: 80, targetPort: 8080 }], selector: { app: 'web' } },
  { namespace: 'a', name: 'api', clusterIP: '10.96.1.2', ports: [{ name: 'http', port: 8080 }, { name: 'tcp-db', port: 5432 }] },
  { namespace: 'b', name: 'reviews', clusterIP: '10.96.2.1', ports: [{ name: 'http', port: 9080 }] },
  { namespace: 'b', name: 'ratings', clusterIP: '10.96.2.2', ports: [{ name: 'http', port: 9080 }] },
  { namespace: 'c', name: 'details', clusterIP: '10.96.3.1', ports: [{ name: 'http', port: 9080 }] },
  { namespace: 'trellis-system', name: 'trellis', clusterIP: '10.96.0.10', ports: [{ name: 'grpc-xds', port: 15012 }] },
];

const clusters = (configs: AnyConfig[], ns = 'a', labels: Record<string, string> = { app: 'web' }): string[] =>
  [...(sidecarSnapshot(buildMesh(services, configs), sidecar(ns, labels))[TypeUrl.Cluster]?.keys() ?? [])].filter((n) => n.startsWith('outbound|')).sort();

const snapshotOf = (configs: AnyConfig[], ns = 'a', labels: Record<string, string> = { app: 'web' }) => sidecarSnapshot(buildMesh(services, configs), sidecar(ns, labels));

const vhosts = (route: RouteConfiguration | undefined): string[] => (route?.virtual_hosts ?? []).map((v) => v.name ?? '');

describe('which Sidecar a proxy takes', () => {
  test('without any Sidecar, every visible service', () => {
    expect(clusters([])).toEqual([
      'outbound|15012||trellis.trellis-system.svc.cluster.local',
      'outbound|5432||api.a.svc.cluster.local',
      'outbound|8080||api.a.svc.cluster.local',
      'outbound|80||web.a.svc.cluster.local',
      'outbound|9080||details.c.svc.cluster.local',
      'outbound|9080||ratings.b.svc.cluster.local',
      'outbound|9080||reviews.b.svc.cluster.local',
    ]);
  });

  test('the namespace default (no selector): ./* imports the own namespace only', () => {
    const sc = config('Sidecar', 'a', 'default', { egress: [{ hosts: ['./*'] }] });
    expect(clusters([sc])).toEqual(['outbound|5432||api.a.svc.cluster.local', 'outbound|8080||api.a.svc.cluster.local', 'outbound|80||web.a.svc.cluster.local']);
    // Another namespace is not affected.
    expect(clusters([sc], 'b', {})).toContain('outbound|9080||details.c.svc.cluster.local');
  });

  test('the mesh default in the root namespace applies where a namespace has none; "." is the proxy\'s namespace', () => {
    const mesh = config('Sidecar', 'trellis-system', 'default', { egress: [{ hosts: ['./*', 'trellis-system/*'] }] });
    expect(clusters([mesh], 'b', {})).toEqual(['outbound|15012||trellis.trellis-system.svc.cluster.local', 'outbound|9080||ratings.b.svc.cluster.local', 'outbound|9080||reviews.b.svc.cluster.local']);
    const own = config('Sidecar', 'b', 'default', { egress: [{ hosts: ['c/*'] }] });
    expect(clusters([mesh, own], 'b', {})).toEqual(['outbound|9080||details.c.svc.cluster.local']);
  });

  test('a workload selector wins over the namespace default; the oldest matching selector wins', () => {
    const ns = config('Sidecar', 'a', 'default', { egress: [{ hosts: ['./*'] }] });
    const web = config('Sidecar', 'a', 'web', { workloadSelector: { labels: { app: 'web' } }, egress: [{ hosts: ['b/reviews.b.svc.cluster.local'] }] });
    const younger = config('Sidecar', 'a', 'web-too', { workloadSelector: { labels: { app: 'web' } }, egress: [{ hosts: ['c/*'] }] });
    expect(clusters([ns, web, younger])).toEqual(['outbound|9080||reviews.b.svc.cluster.local']);
    expect(clusters([ns, web, younger], 'a', { app: 'other' })).toEqual(['outbound|5432||api.a.svc.cluster.local', 'outbound|8080||api.a.svc.cluster.local', 'outbound|80||web.a.svc.cluster.local']);
  });

  test('proxies that take different Sidecars never share a configuration', () => {
    const web = config('Sidecar', 'a', 'web', { workloadSelector: { labels: { app: 'web' } }, egress: [{ hosts: ['./*'] }] });
    const mesh = buildMesh(services, [web]);
    const share = new SidecarShare(DEFAULT_SIDECAR_OPTIONS);
    const count = (labels: Record<string, string>) => sidecarSnapshot(mesh, sidecar('a', labels), {}, new Set([TypeUrl.Cluster]), share)[TypeUrl.Cluster]?.size;
    expect(count({ app: 'other' })).toBeGreaterThan(count({ app: 'web' }) ?? 0);
  });
});

describe('what a Sidecar imports', () => {
  test('~/* imports nothing; */* everything', () => {
    expect(clusters([config('Sidecar', 'a', 'default', { egress: [{ hosts: ['~/*'] }] })])).toEqual([]);
    expect(clusters([config('Sidecar', 'a', 'default', { egress: [{ hosts: ['*/*'] }] })])).toHaveLength(7);
  });

  test('a dnsName narrows by hostname, with wildcards', () => {
    expect(clusters([config('Sidecar', 'a', 'default', { egress: [{ hosts: ['*/r*.b.svc.cluster.local'] }] })])).toEqual([]);
    expect(clusters([config('Sidecar', 'a', 'default', { egress: [{ hosts: ['*/*.b.svc.cluster.local'] }] })])).toEqual([
      'outbound|9080||ratings.b.svc.cluster.local',
      'outbound|9080||reviews.b.svc.cluster.local',
    ]);
    expect(clusters([config('Sidecar', 'a', 'default', { egress: [{ hosts: ['b/ratings.b.svc.cluster.local'] }] })])).toEqual(['outbound|9080||ratings.b.svc.cluster.local']);
  });

  test('a Sidecar with no egress (only an outboundTrafficPolicy) imports everything', () => {
    expect(clusters([config('Sidecar', 'a', 'default', { outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } })])).toHaveLength(7);
  });

  test("an imported VirtualService's destinations come along, even from namespaces not imported", () => {
    const vs = config('VirtualService', 'a', 'api', { hosts: ['api'], http: [{ route: [{ destination: { host: 'details.c.svc.cluster.local' } }] }] });
    const sc = config('Sidecar', 'a', 'default', { egress: [{ hosts: ['./*'] }] });
    expect(clusters([vs, sc])).toContain('outbound|9080||details.c.svc.cluster.local');
    // The route that uses it is there, so no route points at a missing cluster.
    const snap = snapshotOf([vs, sc]);
    expect(JSON.stringify(snap[TypeUrl.Route]?.get('8080'))).toContain('outbound|9080||details.c.svc.cluster.local');
    // ...but, as in Istio, only a cluster: the proxy gets no virtual host of its own for details.
    expect(snap[TypeUrl.Route]?.get('9080')).toBeUndefined();
  });

  test("a VirtualService of a namespace the Sidecar does not import is not used, though its host is", () => {
    // ratings' routing written in c: a proxy importing only b/* routes ratings by default.
    const vs = config('VirtualService', 'c', 'ratings', { hosts: ['ratings.b.svc.cluster.local'], http: [{ route: [{ destination: { host: 'details.c.svc.cluster.local' } }] }] });
    const imported = snapshotOf([vs, config('Sidecar', 'a', 'default', { egress: [{ hosts: ['b/*', 'c/*'] }] })])[TypeUrl.Route]?.get('9080');
    const ratingsVia = (r: RouteConfiguration | undefined) => JSON.stringify(r?.virtual_hosts?.find((v) => v.name === 'ratings.b.svc.cluster.local:9080')?.routes);
    expect(ratingsVia(imported)).toContain('details.c.svc.cluster.local');
    const notImported = snapshotOf([vs, config('Sidecar', 'a', 'default', { egress: [{ hosts: ['b/*'] }] })])[TypeUrl.Route]?.get('9080');
    expect(ratingsVia(notImported)).toContain('outbound|9080||ratings.b.svc.cluster.local');
    expect(ratingsVia(notImported)).not.toContain('details');
  });

  test('a port-specific listener serves only its hosts on its port; the catch-all the rest', () => {
    const sc = config('Sidecar', 'a', 'default', {
      egress: [{ port: { number: 9080, protocol: 'HTTP', name: 'http' }, hosts: ['b/reviews.b.svc.cluster.local'] }, { hosts: ['./*', 'c/*'] }],
    });
    const snap = snapshotOf([sc]);
    expect(vhosts(snap[TypeUrl.Route]?.get('9080'))).toEqual(['reviews.b.svc.cluster.local:9080', 'allow_any']);
    expect(vhosts(snap[TypeUrl.Route]?.get('8080'))).toEqual(['api.a.svc.cluster.local:8080', 'allow_any']);
    // details (c/*) is imported by the catch-all, on a port the port listener owns: a cluster, no route.
    expect([...(snap[TypeUrl.Cluster]?.keys() ?? [])]).toContain('outbound|9080||details.c.svc.cluster.local');
  });
});

describe('outboundTrafficPolicy', () => {
  const passthrough = (l: Listener | undefined) => l?.default_filter_chain?.name;

  test("the Sidecar's mode overrides the mesh's, for its proxies only", () => {
    const sc = config('Sidecar', 'a', 'default', { outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' }, egress: [{ hosts: ['./*'] }] });
    const scoped = snapshotOf([sc]);
    expect(passthrough(scoped[TypeUrl.Listener]?.get('virtualOutbound'))).toBe('BlackHoleFilterChain');
    expect(vhosts(scoped[TypeUrl.Route]?.get('8080')).at(-1)).toBe('block_all');
    const other = snapshotOf([sc], 'b', {});
    expect(passthrough(other[TypeUrl.Listener]?.get('virtualOutbound'))).toBe('PassthroughFilterChain');
  });

  test('a policy without a mode is REGISTRY_ONLY, as Istio reads the enum; no policy at all leaves the mesh its say', () => {
    const empty = snapshotOf([config('Sidecar', 'a', 'default', { outboundTrafficPolicy: {}, egress: [{ hosts: ['./*'] }] })]);
    expect(passthrough(empty[TypeUrl.Listener]?.get('virtualOutbound'))).toBe('BlackHoleFilterChain');
    const none = snapshotOf([config('Sidecar', 'a', 'default', { egress: [{ hosts: ['./*'] }] })]);
    expect(passthrough(none[TypeUrl.Listener]?.get('virtualOutbound'))).toBe('PassthroughFilterChain');
  });

  describe('egressProxy', () => {
    const EGRESS = 'outbound|5432||api.a.svc.cluster.local';
    const sc = config('Sidecar', 'a', 'default', {
      outboundTrafficPolicy: { mode: 'ALLOW_ANY', egressProxy: { host: 'api.a.svc.cluster.local', port: { number: 5432 } } },
      egress: [{ hosts: ['./*'] }],
    });
    const tcpCluster = (l: Listener | undefined) => decoded(l?.default_filter_chain?.filters?.[0]?.typed_config ?? {}) as { cluster?: string; stat_prefix?: string };

    test('what matches no service goes to the egress proxy, by TCP and by HTTP, where ALLOW_ANY would pass it through', () => {
      const snap = snapshotOf([sc]);
      const virtual = snap[TypeUrl.Listener]?.get('virtualOutbound');
      expect(passthrough(virtual)).toBe('PassthroughFilterChain');
      expect(tcpCluster(virtual)).toMatchObject({ cluster: EGRESS, stat_prefix: EGRESS });
      // A TCP port's listener: its services by address, the rest to the egress proxy.
      expect(tcpCluster(snap[TypeUrl.Listener]?.get('0.0.0.0_5432'))).toMatchObject({ cluster: EGRESS });
      const allowAny = snap[TypeUrl.Route]?.get('8080')?.virtual_hosts?.at(-1);
      expect(allowAny?.name).toBe('allow_any');
      expect(allowAny?.routes?.[0]?.route?.cluster).toBe(EGRESS);
      // The egress proxy's own cluster is there: it is a service the Sidecar imports.
      expect(snap[TypeUrl.Cluster]?.has(EGRESS)).toBe(true);
    });

    test('with a subset, the subset cluster; other namespaces keep the passthrough', () => {
      const subset = config('Sidecar', 'a', 'default', {
        outboundTrafficPolicy: { mode: 'ALLOW_ANY', egressProxy: { host: 'api.a.svc.cluster.local', subset: 'v1', port: { number: 8080 } } },
      });
      expect(tcpCluster(snapshotOf([subset])[TypeUrl.Listener]?.get('virtualOutbound')).cluster).toBe('outbound|8080|v1|api.a.svc.cluster.local');
      expect(tcpCluster(snapshotOf([sc], 'b', {})[TypeUrl.Listener]?.get('virtualOutbound')).cluster).toBe('PassthroughCluster');
    });

    test('the egress proxy is applied: no warning says otherwise', () => {
      expect(warningsFor(sc, buildMesh(services, [sc]))).toEqual([]);
    });
  });
});

describe('egress listeners with an address of their own (bind, captureMode)', () => {
  const listener = (snap: ReturnType<typeof snapshotOf>, name: string) => snap[TypeUrl.Listener]?.get(name);

  test('captureMode NONE: the port is served on 127.0.0.1, bound, for the app to call; its TCP service without an address match', () => {
    const sc = config('Sidecar', 'a', 'web', {
      workloadSelector: { labels: { app: 'web' } },
      egress: [
        { port: { number: 8080, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', hosts: ['./api.a.svc.cluster.local'] },
        { port: { number: 5432, protocol: 'TCP', name: 'tcp' }, captureMode: 'NONE', hosts: ['./api.a.svc.cluster.local'] },
        { hosts: ['*/*'] },
      ],
    });
    const snap = snapshotOf([sc]);
    const http = listener(snap, '127.0.0.1_8080');
    expect(http?.address?.socket_address).toMatchObject({ address: '127.0.0.1', port_value: 8080 });
    expect(http?.bind_to_port).toEqual({ value: true });
    expect(decoded(http?.default_filter_chain?.filters?.[0]?.typed_config ?? {})).toMatchObject({ rds: { route_config_name: '8080' } });
    const tcp = listener(snap, '127.0.0.1_5432');
    expect(tcp?.filter_chains?.map((c) => c.filter_chain_match?.prefix_ranges)).toEqual([undefined]);
    expect(decoded(tcp?.filter_chains?.[0]?.filters?.[0]?.typed_config ?? {})).toMatchObject({ cluster: 'outbound|5432||api.a.svc.cluster.local' });
    expect(listener(snap, '0.0.0.0_8080')).toBeUndefined();
    // The catch-all listener's ports are as before.
    expect(listener(snap, '0.0.0.0_9080')?.bind_to_port).toEqual({ value: false });
  });

  test('a port the sidecar cannot bind (privileged, or its own) is not bound: its captured listener serves it, and the object says why', () => {
    const sc = config('Sidecar', 'a', 'web', {
      workloadSelector: { labels: { app: 'web' } },
      egress: [
        { port: { number: 80, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', hosts: ['./*'] },
        { port: { number: 15001, protocol: 'TCP', name: 'tcp' }, captureMode: 'NONE', hosts: ['./*'] },
        { hosts: ['*/*'] },
      ],
    });
    const snap = snapshotOf([sc]);
    // Envoy runs without capabilities: a bound listener on 80 would make it refuse the whole listener update.
    expect([...(snap[TypeUrl.Listener]?.keys() ?? [])].filter((n) => n.startsWith('127.0.0.1_'))).toEqual([]);
    expect(listener(snap, '0.0.0.0_80')?.bind_to_port).toEqual({ value: false });
    expect(warningsFor(sc, buildMesh(services, [sc]))).toEqual([
      'spec.egress[0].captureMode: the sidecar cannot bind port 80 (a privileged port or one of its own), so Trellis serves this listener to captured traffic only (Istio leaves it out)',
      'spec.egress[1].captureMode: the sidecar cannot bind port 15001 (a privileged port or one of its own), so Trellis serves this listener to captured traffic only (Istio leaves it out)',
    ]);
  });

  test("a listener without a port lends its bind to each port of its services a port-specific listener does not own", () => {
    const sc = config('Sidecar', 'a', 'web', {
      workloadSelector: { labels: { app: 'web' } },
      egress: [
        { port: { number: 5432, protocol: 'TCP', name: 'tcp' }, hosts: ['./api.a.svc.cluster.local'] },
        { captureMode: 'NONE', hosts: ['./*'] },
      ],
    });
    const snap = snapshotOf([sc]);
    expect(listener(snap, '127.0.0.1_8080')).toMatchObject({ address: { socket_address: { address: '127.0.0.1', port_value: 8080 } }, bind_to_port: { value: true } });
    // Owned by the port-specific listener, which has no address: captured as before.
    expect(listener(snap, '0.0.0.0_5432')?.bind_to_port).toEqual({ value: false });
    // Port 80 cannot be bound by the sidecar: served to captured traffic only.
    expect(listener(snap, '0.0.0.0_80')?.bind_to_port).toEqual({ value: false });
    expect(listener(snap, '0.0.0.0_8080')).toBeUndefined();
    expect(warningsFor(sc, buildMesh(services, [sc]))).toEqual([]);
    const bound = snapshotOf([config('Sidecar', 'a', 'web', { workloadSelector: { labels: { app: 'web' } }, egress: [{ bind: '10.1.2.3', hosts: ['./*'] }] })]);
    expect(listener(bound, '10.1.2.3_80')).toMatchObject({ address: { socket_address: { address: '10.1.2.3', port_value: 80 } }, bind_to_port: { value: false } });
  });

  test('a listener on a Unix domain socket serves its hosts there alone, every HTTP port routed by Host', () => {
    const sc = config('Sidecar', 'a', 'web', {
      workloadSelector: { labels: { app: 'web' } },
      egress: [
        { port: { number: 0, protocol: 'HTTP', name: 'uds' }, bind: 'unix:///var/run/app.sock', hosts: ['./api.a.svc.cluster.local'] },
        { port: { number: 0, protocol: 'TCP', name: 'uds-tcp' }, bind: 'unix://@tcp', hosts: ['./api.a.svc.cluster.local'] },
        { hosts: ['b/*'] },
      ],
    });
    const snap = snapshotOf([sc]);
    const uds = listener(snap, 'unix:///var/run/app.sock_0');
    expect(uds?.address).toEqual({ pipe: { path: '/var/run/app.sock' } });
    expect(decoded(uds?.filter_chains?.[0]?.filters?.[0]?.typed_config ?? {})).toMatchObject({ rds: { route_config_name: 'unix:///var/run/app.sock' } });
    const routes = snap[TypeUrl.Route]?.get('unix:///var/run/app.sock');
    // Its HTTP port only (5432 is TCP), the short names with and without the port; no passthrough catch-all.
    expect(vhosts(routes)).toEqual(['api.a.svc.cluster.local:8080']);
    expect(routes?.virtual_hosts?.[0]?.domains).toEqual(expect.arrayContaining(['api', 'api:8080', 'api.a.svc.cluster.local']));
    // Imported for the socket alone: clusters, but no listener or route on the service's own ports.
    expect(clusters([sc])).toEqual(expect.arrayContaining(['outbound|8080||api.a.svc.cluster.local', 'outbound|5432||api.a.svc.cluster.local']));
    expect(listener(snap, '0.0.0.0_8080')).toBeUndefined();
    expect(listener(snap, '0.0.0.0_5432')).toBeUndefined();
    // A TCP listener on a socket has no port to pick a service by: not served, and said.
    expect(listener(snap, 'unix://@tcp_0')).toBeUndefined();
    expect(warningsFor(sc, buildMesh(services, [sc]))).toEqual(["spec.egress[1].bind: a TCP egress listener on a Unix domain socket (HTTP ones are served; this one's hosts are served by no listener of it) is not applied by Trellis yet"]);
    // REGISTRY_ONLY: what no service claims is refused on the socket too.
    const blocked = snapshotOf([config('Sidecar', 'a', 'web', { ...sc.spec, outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } })]);
    expect(vhosts(blocked[TypeUrl.Route]?.get('unix:///var/run/app.sock'))).toEqual(['api.a.svc.cluster.local:8080', 'block_all']);
  });

  test("a bound address other pods may reach is said (they could call through it with the workload's identity); a bind that is no address binds nothing", () => {
    const sc = config('Sidecar', 'a', 'web', {
      workloadSelector: { labels: { app: 'web' } },
      egress: [
        { port: { number: 9080, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', bind: '10.0.0.99', hosts: ['b/*'] },
        { captureMode: 'NONE', bind: 'foo', hosts: ['./*'] },
      ],
    });
    expect(warningsFor(sc, buildMesh(services, [sc]))).toEqual([
      "spec.egress[0].bind: 10.0.0.99 is not a loopback address: where the port is not captured, other pods can call through this listener with the workload's identity",
      'spec.egress[1].bind: "foo" is not an IP address, so Trellis binds no listener to it',
    ]);
    const snap = snapshotOf([sc]);
    expect(listener(snap, '10.0.0.99_9080')?.bind_to_port).toEqual({ value: true });
    expect(listener(snap, '0.0.0.0_8080')?.bind_to_port).toEqual({ value: false });
  });

  test('a bind IP with the default captureMode: a listener of that address for captured traffic, not bound', () => {
    const sc = config('Sidecar', 'a', 'web', {
      workloadSelector: { labels: { app: 'web' } },
      egress: [{ port: { number: 9080, protocol: 'HTTP', name: 'http' }, bind: '10.1.2.3', hosts: ['b/*'] }],
    });
    const l = listener(snapshotOf([sc]), '10.1.2.3_9080');
    expect(l?.address?.socket_address).toMatchObject({ address: '10.1.2.3', port_value: 9080 });
    expect(l?.bind_to_port).toEqual({ value: false });
  });
});

describe('ingress listeners', () => {
  const clusterOf = (snap: ReturnType<typeof snapshotOf>, name: string) => snap[TypeUrl.Cluster]?.get(name);

  test("replace the Services' ports as what the workload accepts, each to its defaultEndpoint", () => {
    const sc = config('Sidecar', 'a', 'web', {
      workloadSelector: { labels: { app: 'web' } },
      ingress: [
        { port: { number: 9080, protocol: 'HTTP', name: 'http' }, defaultEndpoint: '127.0.0.1:8080' },
        { port: { number: 9090, protocol: 'TCP', name: 'tcp' }, defaultEndpoint: 'unix:///var/run/app.sock' },
        { port: { number: 7070, protocol: 'GRPC', name: 'grpc' } },
      ],
    });
    const snap = snapshotOf([sc]);
    const inbound = [...(snap[TypeUrl.Cluster]?.keys() ?? [])].filter((n) => n.startsWith('inbound|')).sort();
    expect(inbound).toEqual(['inbound|7070||', 'inbound|9080||', 'inbound|9090||']);
    expect(JSON.stringify(clusterOf(snap, 'inbound|9080||')?.load_assignment)).toContain('"port_value":8080');
    expect(clusterOf(snap, 'inbound|9090||')?.load_assignment?.endpoints?.[0].lb_endpoints?.[0].endpoint?.address).toEqual({ pipe: { path: '/var/run/app.sock' } });
    expect(clusterOf(snap, 'inbound|9090||')?.upstream_bind_config).toBeUndefined();
    expect(JSON.stringify(clusterOf(snap, 'inbound|7070||')?.load_assignment)).toContain('"port_value":7070');
    // HTTP ports get inbound routes; the Service's own port 8080 is no longer an inbound port.
    expect([...(snap[TypeUrl.Route]?.keys() ?? [])].filter((n) => n.startsWith('inbound'))).toEqual(['inbound|7070||', 'inbound|9080||']);
  });

  test("connection pools: a port's ingress listener's, else inboundConnectionPool, else none", () => {
    const thresholds = (snap: ReturnType<typeof snapshotOf>, name: string) => clusterOf(snap, name)?.circuit_breakers?.thresholds?.[0];
    const sc = config('Sidecar', 'a', 'web', {
      workloadSelector: { labels: { app: 'web' } },
      inboundConnectionPool: { tcp: { maxConnections: 100, connectTimeout: '3s' }, http: { http1MaxPendingRequests: 10, idleTimeout: '30s', h2UpgradePolicy: 'UPGRADE' } },
      ingress: [
        { port: { number: 9080, protocol: 'HTTP', name: 'http' }, defaultEndpoint: '127.0.0.1:8080', connectionPool: { tcp: { maxConnections: 1 } } },
        { port: { number: 9090, protocol: 'HTTP', name: 'http-b' }, defaultEndpoint: '127.0.0.1:8081' },
      ],
    });
    const snap = snapshotOf([sc]);
    // The listener's own pool replaces the Sidecar's whole: no pending limit or timeout from it.
    expect(thresholds(snap, 'inbound|9080||')).toMatchObject({ max_connections: { value: 1 }, max_pending_requests: { value: 4294967295 } });
    expect(clusterOf(snap, 'inbound|9080||')?.connect_timeout).toEqual({ seconds: 10, nanos: 0 });
    expect(thresholds(snap, 'inbound|9090||')).toMatchObject({ max_connections: { value: 100 }, max_pending_requests: { value: 10 } });
    expect(clusterOf(snap, 'inbound|9090||')?.connect_timeout).toEqual({ seconds: 3, nanos: 0 });
    // The idle timeout applies; the HTTP/2 upgrade is an outbound setting and does not.
    const options = decoded(Object.values(clusterOf(snap, 'inbound|9090||')?.typed_extension_protocol_options ?? {})[0] ?? {}) as { common_http_protocol_options?: unknown; explicit_http_config?: Record<string, unknown> };
    expect(options.common_http_protocol_options).toMatchObject({ idle_timeout: { seconds: '30', nanos: 0 } });
    expect(options.explicit_http_config).toHaveProperty('http_protocol_options');
    expect(options.explicit_http_config).not.toHaveProperty('http2_protocol_options');
    // The Service-derived inbound ports of a Sidecar without ingress take inboundConnectionPool too.
    const nsWide = snapshotOf([config('Sidecar', 'a', 'default', { inboundConnectionPool: { tcp: { maxConnections: 7 } } })]);
    expect(thresholds(nsWide, 'inbound|8080||')).toMatchObject({ max_connections: { value: 7 } });
    // No pool anywhere: Istio's defaults, circuit breakers at their maximum (not Envoy's 1,024).
    expect(thresholds(snapshotOf([]), 'inbound|8080||')).toMatchObject({ max_connections: { value: 4294967295 }, max_requests: { value: 4294967295 } });
    // A DestinationRule for the workload's own service (no selector): its port-level pool, under the Sidecar's.
    const rule = config('DestinationRule', 'a', 'api', {
      host: 'api.a.svc.cluster.local',
      trafficPolicy: { connectionPool: { tcp: { maxConnections: 50 } }, portLevelSettings: [{ port: { number: 8080 }, connectionPool: { tcp: { maxConnections: 20 } } }] },
    });
    const byRule = snapshotOf([rule], 'a', { app: 'api' });
    expect(thresholds(byRule, 'inbound|8080||')).toMatchObject({ max_connections: { value: 20 } });
    expect(thresholds(byRule, 'inbound|5432||')).toMatchObject({ max_connections: { value: 50 } });
    const selected = config('DestinationRule', 'a', 'api-selected', { host: 'api.a.svc.cluster.local', workloadSelector: { matchLabels: { app: 'api' } }, trafficPolicy: { connectionPool: { tcp: { maxConnections: 3 } } } });
    expect(thresholds(snapshotOf([selected], 'a', { app: 'api' }), 'inbound|8080||')).toMatchObject({ max_connections: { value: 4294967295 } });
    const overridden = snapshotOf([rule, config('Sidecar', 'a', 'default', { inboundConnectionPool: { tcp: { maxConnections: 7 } } })], 'a', { app: 'api' });
    expect(thresholds(overridden, 'inbound|8080||')).toMatchObject({ max_connections: { value: 7 } });
    expect(warningsFor(sc, buildMesh(services, [sc]))).toEqual([]);
  });
});

describe('ingress listeners with captureMode NONE: a listener of their own, bound', () => {
  const listener = (snap: ReturnType<typeof snapshotOf>, name: string) => snap[TypeUrl.Listener]?.get(name);
  const chainNames = (l: Listener | undefined) => (l?.filter_chains ?? []).map((c) => c.name);

  test("bound on the pod's address by default, or on its bind; virtualInbound has no chain for the port", () => {
    const sc = config('Sidecar', 'a', 'web', {
      workloadSelector: { labels: { app: 'web' } },
      ingress: [
        { port: { number: 9080, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', defaultEndpoint: '127.0.0.1:8080' },
        { port: { number: 9090, protocol: 'TCP', name: 'tcp' }, captureMode: 'NONE', bind: '10.1.2.3', defaultEndpoint: 'unix:///var/run/app.sock' },
        { port: { number: 7070, protocol: 'HTTP', name: 'http-c' }, captureMode: 'IPTABLES', bind: '10.1.2.3' },
      ],
    });
    const snap = snapshotOf([sc]);
    const http = listener(snap, '10.0.0.99_9080');
    expect(http?.address?.socket_address).toEqual({ address: '10.0.0.99', port_value: 9080 });
    expect(http?.traffic_direction).toBe('INBOUND');
    expect(http?.bind_to_port).toBeUndefined();
    // Bound, not redirected: no original destination to recover.
    expect(http?.listener_filters?.map((f) => f.name)).toEqual(['envoy.filters.listener.tls_inspector']);
    expect(chainNames(http)).toEqual(['inbound|9080||-mtls', 'inbound|9080||', 'inbound|9080||-tls']);
    expect(decoded(http?.filter_chains?.[1]?.filters?.[0]?.typed_config ?? {})).toMatchObject({ rds: { route_config_name: 'inbound|9080||' } });
    const tcp = listener(snap, '10.1.2.3_9090');
    expect(tcp?.address?.socket_address).toEqual({ address: '10.1.2.3', port_value: 9090 });
    expect(decoded(tcp?.filter_chains?.[1]?.filters?.[0]?.typed_config ?? {})).toMatchObject({ cluster: 'inbound|9090||' });
    // captureMode IPTABLES (as the default): a chain of virtualInbound, whatever its bind.
    expect(listener(snap, '10.1.2.3_7070')).toBeUndefined();
    const ports = new Set(listener(snap, 'virtualInbound')?.filter_chains?.map((c) => c.filter_chain_match?.destination_port?.value));
    expect([...ports]).toEqual([7070]);
    expect([...(snap[TypeUrl.Cluster]?.keys() ?? [])].filter((n) => n.startsWith('inbound|')).sort()).toEqual(['inbound|7070||', 'inbound|9080||', 'inbound|9090||']);
  });

  test('they take the port\'s mTLS mode: under STRICT plaintext is refused there as in virtualInbound', () => {
    const sc = config('Sidecar', 'a', 'web', { workloadSelector: { labels: { app: 'web' } }, ingress: [{ port: { number: 9080, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', defaultEndpoint: '127.0.0.1:8080' }] });
    const strict = config('PeerAuthentication', 'a', 'default', { mtls: { mode: 'STRICT' } });
    expect(chainNames(listener(snapshotOf([sc, strict]), '10.0.0.99_9080'))).toEqual(['inbound|9080||-mtls', 'inbound|9080||-refused']);
  });

  test('a pod address that is not global unicast binds the wildcard (Istio); a port the sidecar cannot bind is left out, and said', () => {
    const sc = config('Sidecar', 'a', 'web', {
      workloadSelector: { labels: { app: 'web' } },
      ingress: [
        { port: { number: 9095, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', defaultEndpoint: '127.0.0.1:8080' },
        { port: { number: 80, protocol: 'HTTP', name: 'http-80' }, captureMode: 'NONE', defaultEndpoint: '127.0.0.1:8081' },
        { port: { number: 15006, protocol: 'TCP', name: 'tcp' }, captureMode: 'NONE' },
      ],
    });
    const mesh = buildMesh(services, [sc]);
    const snap = sidecarSnapshot(mesh, sidecar('a', { app: 'web' }, '127.0.0.1'));
    expect(snap[TypeUrl.Listener]?.get('0.0.0.0_9095')).toMatchObject({ traffic_direction: 'INBOUND', address: { socket_address: { address: '0.0.0.0', port_value: 9095 } } });
    expect([...(snap[TypeUrl.Listener]?.values() ?? [])].filter((l) => l.traffic_direction === 'INBOUND').map((l) => l.name)).toEqual(['virtualInbound', '0.0.0.0_9095']);
    expect([...(snap[TypeUrl.Cluster]?.keys() ?? [])].filter((n) => n.startsWith('inbound|'))).toEqual(['inbound|9095||']);
    // An IPv6-only proxy binds IPv6's wildcard; what is not an address is no global unicast one.
    const v6 = sidecarSnapshot(mesh, { ...sidecar('a', { app: 'web' }, 'fe80::1'), ips: ['fe80::1', 'not-an-ip'] });
    expect(v6[TypeUrl.Listener]?.get('::_9095')?.address?.socket_address).toEqual({ address: '::', port_value: 9095 });
    expect(warningsFor(sc, mesh)).toEqual([
      'spec.ingress[1].captureMode: the sidecar cannot bind port 80 (a privileged port or one of its own), so this listener is left out, as Istio does',
      'spec.ingress[2].captureMode: the sidecar cannot bind port 15006 (a privileged port or one of its own), so this listener is left out, as Istio does',
    ]);
  });

  test("bound on the wildcard, it would take the port's outbound listener's name: the outbound one is kept, and the object says so", () => {
    const sc = config('Sidecar', 'a', 'web', {
      workloadSelector: { labels: { app: 'web' } },
      ingress: [{ port: { number: 9080, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', bind: '0.0.0.0', defaultEndpoint: 'unix:///var/run/app.sock' }],
    });
    // Else virtualOutbound would hand the workload's calls to reviews, ratings and details (9080) to its own app.
    const l = listener(snapshotOf([sc]), '0.0.0.0_9080');
    expect(l?.traffic_direction).toBe('OUTBOUND');
    expect(decoded(l?.default_filter_chain?.filters?.[0]?.typed_config ?? {})).toMatchObject({ rds: { route_config_name: '9080' } });
    expect(warningsFor(sc, buildMesh(services, [sc]))).toEqual([
      "spec.ingress[0].bind: 0.0.0.0 names this listener as the outbound listener of port 9080 is named; where the proxy sees a service on that port the outbound one is kept and this one left out (leave bind empty to bind the pod's address)",
    ]);
  });
});

describe('a pod without iptables capture (interceptionMode NONE)', () => {
  const uncaptured = { ...sidecar('a', { app: 'web' }), interception: 'NONE' as const };
  const inbound = (l: Listener) => l.traffic_direction === 'INBOUND';

  test('without a Sidecar: each service port bound on 127.0.0.1 (not the privileged ones), no virtual listeners, no inbound side', () => {
    const snap = sidecarSnapshot(buildMesh(services, []), uncaptured);
    const listeners = [...(snap[TypeUrl.Listener]?.values() ?? [])];
    expect(listeners.map((l) => l.name).sort()).toEqual(['127.0.0.1_15012', '127.0.0.1_5432', '127.0.0.1_8080', '127.0.0.1_9080']);
    expect(listeners.every((l) => l.bind_to_port?.value === true && l.address?.socket_address?.address === '127.0.0.1')).toBe(true);
    expect([...(snap[TypeUrl.Cluster]?.keys() ?? [])].filter((n) => n.startsWith('inbound|'))).toEqual([]);
    // A captured proxy of the same namespace and labels keeps its virtual listeners: the two never share a configuration.
    const mesh = buildMesh(services, []);
    const share = new SidecarShare(DEFAULT_SIDECAR_OPTIONS);
    const names = (proxy: ReturnType<typeof sidecar>) => [...(sidecarSnapshot(mesh, proxy, {}, new Set([TypeUrl.Listener]), share)[TypeUrl.Listener]?.keys() ?? [])];
    expect(names(uncaptured)).not.toContain('virtualOutbound');
    expect(names(sidecar('a', { app: 'web' }))).toEqual(expect.arrayContaining(['virtualOutbound', 'virtualInbound', '0.0.0.0_8080']));
    expect(names(uncaptured)).not.toContain('virtualOutbound');
  });

  test("Istio's example Sidecar: the ingress port bound on the pod's address, the egress ports on 127.0.0.1", () => {
    const sc = config('Sidecar', 'a', 'no-ip-tables', {
      workloadSelector: { labels: { app: 'web' } },
      ingress: [{ port: { number: 9080, protocol: 'HTTP', name: 'somename' }, defaultEndpoint: '127.0.0.1:8080' }],
      egress: [
        { port: { number: 5432, protocol: 'TCP', name: 'db' }, bind: '127.0.0.1', hosts: ['./api.a.svc.cluster.local'] },
        { hosts: ['b/*'] },
      ],
    });
    const snap = sidecarSnapshot(buildMesh(services, [sc]), uncaptured);
    const listeners = [...(snap[TypeUrl.Listener]?.values() ?? [])];
    expect(listeners.filter(inbound).map((l) => [l.name, l.address?.socket_address?.address])).toEqual([['10.0.0.99_9080', '10.0.0.99']]);
    expect(listeners.filter((l) => !inbound(l)).map((l) => [l.name, l.bind_to_port?.value])).toEqual([
      ['127.0.0.1_5432', true],
      ['127.0.0.1_9080', true],
    ]);
    // Without capture every egress listener binds, whatever its captureMode (Istio's buildSidecarOutboundListeners);
    // an ingress listener asking for IPTABLES is served by nothing.
    const iptables = config('Sidecar', 'a', 'no-ip-tables', {
      workloadSelector: { labels: { app: 'web' } },
      ingress: [{ port: { number: 9080, protocol: 'HTTP', name: 'http' }, captureMode: 'IPTABLES', defaultEndpoint: '127.0.0.1:8080' }],
      egress: [{ captureMode: 'IPTABLES', hosts: ['b/*'] }],
    });
    expect([...(sidecarSnapshot(buildMesh(services, [iptables]), uncaptured)[TypeUrl.Listener]?.keys() ?? [])]).toEqual(['127.0.0.1_9080']);
  });
});

describe('what Trellis does not apply yet is said on the object', () => {
  test('a TCP egress listener on a Unix socket', () => {
    const sc = config('Sidecar', 'a', 'x', {
      ingress: [{ port: { number: 9080, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', bind: '0.0.0.0' }],
      egress: [
        { port: { number: 3306, protocol: 'MYSQL', name: 'db' }, bind: '127.0.0.1', captureMode: 'NONE', hosts: ['*/mysql.foo.com'] },
        { port: { number: 0, protocol: 'TCP', name: 'uds' }, bind: 'unix:///var/run/app.sock', captureMode: 'NONE', hosts: ['./*'] },
      ],
      inboundConnectionPool: { tcp: { maxConnections: 10 } },
    });
    expect(warningsFor(sc, buildMesh(services, [sc]))).toEqual([
      "spec.egress[1].bind: a TCP egress listener on a Unix domain socket (HTTP ones are served; this one's hosts are served by no listener of it) is not applied by Trellis yet",
      "spec.ingress[0].bind: 0.0.0.0 names this listener as the outbound listener of port 9080 is named; where the proxy sees a service on that port the outbound one is kept and this one left out (leave bind empty to bind the pod's address)",
    ]);
    expect(warningsFor(config('Sidecar', 'a', 'y', { egress: [{ hosts: ['./*'] }] }), buildMesh(services, []))).toEqual([]);
  });
});

describe('a Sidecar that never applies is said on the object', () => {
  test('a younger namespace default, and a younger Sidecar with the same selector', () => {
    const first = config('Sidecar', 'a', 'first', { egress: [{ hosts: ['./*'] }] });
    const second = config('Sidecar', 'a', 'second', { egress: [{ hosts: ['*/*'] }] });
    const web = config('Sidecar', 'a', 'web', { workloadSelector: { labels: { app: 'web' } }, egress: [{ hosts: ['./*'] }] });
    const web2 = config('Sidecar', 'a', 'web2', { workloadSelector: { labels: { app: 'web' } }, egress: [{ hosts: ['*/*'] }] });
    const mesh = buildMesh(services, [first, second, web, web2]);
    expect(warningsFor(first, mesh)).toEqual([]);
    expect(warningsFor(second, mesh)).toEqual(['spec: the older Sidecar a/first has no workloadSelector either: only the oldest applies to the namespace\'s proxies, so this one is ignored']);
    expect(warningsFor(web, mesh)).toEqual([]);
    expect(warningsFor(web2, mesh)).toEqual(['spec.workloadSelector: the older Sidecar a/web selects the same labels: it applies to those proxies, so this one is ignored']);
  });
});

describe('what a Sidecar leaves alone', () => {
  test("a workload's own inbound ports, whatever it imports", () => {
    const snap = snapshotOf([config('Sidecar', 'a', 'default', { egress: [{ hosts: ['~/*'] }] })]);
    expect([...(snap[TypeUrl.Cluster]?.keys() ?? [])]).toContain('inbound|8080||');
  });

  test('gateways see every service', () => {
    const sc = config('Sidecar', 'trellis-system', 'default', { egress: [{ hosts: ['./*'] }] });
    const gw = config('Gateway', 'b', 'gw', { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] });
    const snap = gatewaySnapshot(buildMesh(services, [sc, gw]), { ...sidecar('b', { istio: 'ingressgateway' }), kind: 'router' } as never);
    expect([...(snap[TypeUrl.Cluster]?.keys() ?? [])]).toContain('outbound|9080||details.c.svc.cluster.local');
  });
});
