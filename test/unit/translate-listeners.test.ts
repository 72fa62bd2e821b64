// Sidecar listeners: the virtual outbound listener and its fallback, per-port outbound
// listeners (HTTP over RDS, TCP by ClusterIP, with VirtualService TCP routes), and the virtual
// inbound listener with a chain per workload port.
import { inboundRouteConfiguration, virtualInboundListener } from '../../src/translate/listeners-inbound.js';
import { outboundListeners, virtualOutboundListener } from '../../src/translate/listeners-outbound.js';
import { inboundPorts } from '../../src/translate/inbound-ports.js';
import { buildMesh, config, decoded, sidecar } from '../support/mesh-fixtures.js';
import type { Listener } from '../../src/xds/types.js';

type Chain = NonNullable<Listener['filter_chains']>[number];
const filter = (c: Chain | null | undefined) => decoded(c?.filters?.[0]?.typed_config ?? {});

test.each([
  ['ALLOW_ANY', 'PassthroughCluster'],
  ['REGISTRY_ONLY', 'BlackHoleCluster'],
] as const)('virtualOutbound on 0.0.0.0:15001 uses the original destination; %s falls back to %s', (policy, cluster) => {
  const l = virtualOutboundListener({ outboundPort: 15001, outboundPolicy: policy });
  expect(l).toMatchObject({ name: 'virtualOutbound', address: { socket_address: { address: '0.0.0.0', port_value: 15001 } }, use_original_dst: { value: true }, traffic_direction: 'OUTBOUND' });
  expect(filter(l.default_filter_chain)).toMatchObject({ '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', cluster });
});

describe('per-port outbound listeners', () => {
  const mesh = buildMesh(
    [
      { namespace: 'prod', name: 'reviews', clusterIP: '10.96.0.1', ports: [{ name: 'http', port: 80 }] },
      { namespace: 'prod', name: 'mysql', clusterIP: '10.96.0.2', ports: [{ name: 'tcp', port: 3306 }] },
      { namespace: 'prod', name: 'mysql-v2', clusterIP: '10.96.0.3', ports: [{ name: 'mysql', port: 3306 }] },
      { namespace: 'prod', name: 'legacy', clusterIP: '10.96.0.4', ports: [{ name: 'tcp', port: 80 }] },
      { namespace: 'hidden', name: 'secret', clusterIP: '10.96.0.5', ports: [{ name: 'tcp', port: 7777 }], exportTo: ['.'] },
    ],
    [config('VirtualService', 'prod', 'mysql', { hosts: ['mysql'], tcp: [{ route: [{ destination: { host: 'mysql' }, weight: 90 }, { destination: { host: 'mysql-v2' }, weight: 10 }] }] })],
  );
  const listeners = new Map(outboundListeners(mesh, sidecar('prod'), { outboundPort: 15001, outboundPolicy: 'ALLOW_ANY' }).map((l) => [l.name, l]));

  test('one unbound listener per port of the visible services', () => {
    expect([...listeners.keys()]).toEqual(['virtualOutbound', '0.0.0.0_80', '0.0.0.0_3306']);
    expect(listeners.get('0.0.0.0_80')).toMatchObject({ address: { socket_address: { address: '0.0.0.0', port_value: 80 } }, bind_to_port: { value: false } });
  });

  test('an HTTP port routes through RDS named by the port; a TCP service on it matches its ClusterIP', () => {
    const l = listeners.get('0.0.0.0_80');
    expect(filter(l?.default_filter_chain)).toMatchObject({ stat_prefix: 'outbound_0.0.0.0_80', rds: { route_config_name: '80', config_source: { ads: {} } } });
    expect(l?.filter_chains?.map((c) => c.filter_chain_match?.prefix_ranges)).toEqual([[{ address_prefix: '10.96.0.4', prefix_len: { value: 32 } }]]);
    expect(filter(l?.filter_chains?.[0])).toMatchObject({ cluster: 'outbound|80||legacy.prod.svc.cluster.local' });
  });

  test('a TCP port: a chain per ClusterIP, VirtualService TCP weights, passthrough for the rest', () => {
    const l = listeners.get('0.0.0.0_3306');
    const all = l?.filter_chains ?? [];
    const chainOf = (ip: string) => all.find((c) => c.filter_chain_match?.prefix_ranges?.[0]?.address_prefix === ip);
    expect(all.map((c) => c.filter_chain_match?.prefix_ranges?.[0]?.address_prefix).sort()).toEqual(['10.96.0.2', '10.96.0.3']);
    const chains = [chainOf('10.96.0.2'), chainOf('10.96.0.3')];
    expect(filter(chains[0])).toMatchObject({
      weighted_clusters: { clusters: [{ name: 'outbound|3306||mysql.prod.svc.cluster.local', weight: 90 }, { name: 'outbound|3306||mysql-v2.prod.svc.cluster.local', weight: 10 }] },
    });
    expect(filter(chains[1])).toMatchObject({ cluster: 'outbound|3306||mysql-v2.prod.svc.cluster.local' });
    expect(filter(l?.default_filter_chain)).toMatchObject({ cluster: 'PassthroughCluster' });
  });
});

describe('virtualInbound', () => {
  const mesh = buildMesh([
    { namespace: 'prod', name: 'web', clusterIP: '10.96.0.1', ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'tcp-admin', port: 9000 }], selector: { app: 'web' } },
    { namespace: 'prod', name: 'web-grpc', clusterIP: '10.96.0.2', ports: [{ name: 'grpc', port: 7070 }], selector: { app: 'web' } },
    { namespace: 'prod', name: 'other', clusterIP: '10.96.0.3', ports: [{ name: 'http', port: 5000 }], selector: { app: 'other' } },
  ]);
  const ports = inboundPorts(mesh, sidecar('prod', { app: 'web', version: 'v1' }));
  const l = virtualInboundListener(ports, 15006);

  test('the workload ports are those of the Services selecting the proxy', () => {
    expect(ports.map((p) => [p.port, p.protocol])).toEqual([
      [7070, 'GRPC'],
      [8080, 'HTTP'],
      [9000, 'TCP'],
    ]);
  });

  test('0.0.0.0:15006 with original_dst, chains per port (mTLS, plaintext, app TLS), passthrough for other ports', () => {
    expect(l).toMatchObject({ name: 'virtualInbound', address: { socket_address: { address: '0.0.0.0', port_value: 15006 } }, traffic_direction: 'INBOUND' });
    expect(l.listener_filters?.map((f) => f.name)).toEqual(['envoy.filters.listener.original_dst', 'envoy.filters.listener.tls_inspector']);
    const match = (c: (typeof l.filter_chains & object)[number]) => [c.filter_chain_match?.destination_port?.value, c.filter_chain_match?.transport_protocol, c.filter_chain_match?.application_protocols?.length ? 'mesh' : ''];
    expect(l.filter_chains?.map(match)).toEqual([7070, 8080, 9000].flatMap((p) => [[p, 'tls', 'mesh'], [p, 'raw_buffer', ''], [p, 'tls', '']]));
    const plain8080 = l.filter_chains?.find((c) => c.filter_chain_match?.destination_port?.value === 8080 && c.filter_chain_match.transport_protocol === 'raw_buffer');
    expect(filter(plain8080)).toMatchObject({
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      rds: { route_config_name: 'inbound|8080||' },
      forward_client_cert_details: 'APPEND_FORWARD',
      set_current_client_cert_details: { uri: true },
    });
    expect(inboundRouteConfiguration(ports.find((p) => p.port === 8080)!)).toMatchObject({
      name: 'inbound|8080||',
      virtual_hosts: [{ domains: ['*'], routes: [{ route: { cluster: 'inbound|8080||', timeout: { seconds: 0 } } }] }],
    });
    const mtls9000 = l.filter_chains?.find((c) => c.name === 'inbound|9000||-mtls');
    expect(filter(mtls9000)).toMatchObject({ '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', cluster: 'inbound|9000||' });
    expect(mtls9000?.transport_socket?.name).toBe('envoy.transport_sockets.tls');
    expect(filter(l.default_filter_chain)).toMatchObject({ cluster: 'InboundPassthroughCluster' });
  });

  test('STRICT: only mTLS per port; anything else, and plaintext to undeclared ports, is refused', () => {
    const strict = virtualInboundListener(ports, 15006, { mode: 'STRICT', ports: new Map([[9000, 'PERMISSIVE']]), trustDomains: ['cluster.local'] });
    const names = strict.filter_chains?.map((c) => c.name);
    expect(names).toEqual(['inbound|7070||-mtls', 'inbound|7070||-refused', 'inbound|8080||-mtls', 'inbound|8080||-refused', 'inbound|9000||-mtls', 'inbound|9000||', 'inbound|9000||-tls', 'InboundPassthroughFilterChain-mtls']);
    expect(filter(strict.filter_chains?.find((c) => c.name === 'inbound|8080||-refused'))).toMatchObject({ cluster: 'BlackHoleCluster' });
    expect(filter(strict.default_filter_chain)).toMatchObject({ cluster: 'BlackHoleCluster' });
  });

  test('DISABLE: plaintext and app TLS only', () => {
    const off = virtualInboundListener(ports, 15006, { mode: 'DISABLE', ports: new Map(), trustDomains: ['cluster.local'] });
    expect(off.filter_chains?.some((c) => c.transport_socket)).toBe(false);
  });
});

describe('TLS ports: SNI chains', () => {
  const mesh = buildMesh(
    [{ namespace: 'prod', name: 'secure', clusterIP: '10.96.0.9', ports: [{ name: 'https', port: 443 }] }],
    [
      config('ServiceEntry', 'prod', 'api', { hosts: ['api.example.com'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], resolution: 'DNS' }),
      config('ServiceEntry', 'prod', 'wiki', { hosts: ['*.wikipedia.org'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], resolution: 'NONE' }),
      config('VirtualService', 'prod', 'secure', {
        hosts: ['secure'],
        tls: [
          { match: [{ sniHosts: ['secure.prod.svc.cluster.local'] }], route: [{ destination: { host: 'secure' }, weight: 70 }, { destination: { host: 'api.example.com' }, weight: 30 }] },
          { match: [{ sniHosts: ['other.example'], sourceLabels: { app: 'nobody' } }], route: [{ destination: { host: 'api.example.com' } }] },
        ],
      }),
    ],
  );
  const l = outboundListeners(mesh, sidecar('prod'), { outboundPort: 15001, outboundPolicy: 'ALLOW_ANY' }).find((x) => x.name === '0.0.0.0_443');
  const chains = l?.filter_chains ?? [];

  test('the TLS inspector reads SNI; services without an address are told apart by SNI', () => {
    expect(l?.listener_filters?.map((f) => f.name)).toEqual(['envoy.filters.listener.tls_inspector']);
    expect(l?.continue_on_listener_filters_timeout).toBe(true);
    const byMatch = chains.map((c) => [c.filter_chain_match?.prefix_ranges?.map((r) => r.address_prefix), c.filter_chain_match?.server_names, filter(c).cluster ?? 'weighted']);
    expect(byMatch).toEqual(
      expect.arrayContaining([
        [undefined, ['api.example.com'], 'outbound|443||api.example.com'],
        [undefined, ['*.wikipedia.org'], 'outbound|443||*.wikipedia.org'],
        [['10.96.0.9'], ['secure.prod.svc.cluster.local'], 'weighted'],
        [['10.96.0.9'], undefined, 'outbound|443||secure.prod.svc.cluster.local'],
      ]),
    );
    expect(chains).toHaveLength(4);
    expect(new Set(chains.map((c) => c.name)).size).toBe(4);
  });

  test('a VirtualService TLS route splits by weight', () => {
    const sni = chains.find((c) => c.filter_chain_match?.server_names?.[0] === 'secure.prod.svc.cluster.local');
    expect(filter(sni)).toMatchObject({
      weighted_clusters: { clusters: [{ name: 'outbound|443||secure.prod.svc.cluster.local', weight: 70 }, { name: 'outbound|443||api.example.com', weight: 30 }] },
    });
  });
});
