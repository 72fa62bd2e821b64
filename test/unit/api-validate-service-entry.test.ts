// ServiceEntry validation: Istio's rules for resolutions (STATIC, DYNAMIC_DNS), CIDR addresses,
// port names and unix-socket endpoints, each broken rule named by field path.
import { validationErrors } from '../../src/api/validate.js';

const check = (spec: unknown): string[] => validationErrors('ServiceEntry', 'default', 'se', spec).map((e) => `${e.path}: ${e.message}`);
const http = { name: 'http', number: 80, protocol: 'HTTP' };

describe('ServiceEntry STATIC resolution', () => {
  test('endpoints are optional: without endpoints or a selector the entry simply has no endpoints', () => {
    expect(check({ hosts: ['google.com'], addresses: ['172.1.2.16'], ports: [http], resolution: 'STATIC' })).toEqual([]);
  });

  test('an empty workloadSelector is valid (Istio only warns)', () => {
    expect(check({ hosts: ['svc.example.com'], ports: [http], resolution: 'STATIC', workloadSelector: {} })).toEqual([]);
  });

  test('an endpoint on another network may omit its address; otherwise the address is required', () => {
    expect(check({ hosts: ['www.example.com'], ports: [http], resolution: 'STATIC', endpoints: [{ network: 'cluster-1' }] })).toEqual([]);
    expect(check({ hosts: ['www.example.com'], ports: [http], resolution: 'STATIC', endpoints: [{ labels: { a: 'b' } }] })).toEqual([
      'spec.endpoints[0].address: required',
    ]);
    expect(check({ hosts: ['www.example.com'], ports: [http], resolution: 'DNS', endpoints: [{ network: 'cluster-1' }] })).toEqual([
      'spec.endpoints[0].address: required',
    ]);
  });
});

describe('ServiceEntry unix socket endpoints', () => {
  const uds = (endpoint: Record<string, unknown>, ports: unknown[] = [{ name: 'grpc', number: 6553, protocol: 'GRPC' }]) =>
    check({ hosts: ['uds.cluster.local'], ports, resolution: 'STATIC', endpoints: [{ address: 'unix:///path/to/socket', ...endpoint }] });

  test('an absolute path or an abstract name with exactly one service port is valid', () => {
    expect(uds({})).toEqual([]);
    expect(uds({ address: 'unix://@abstract' })).toEqual([]);
  });

  test('the path must be absolute and name a file', () => {
    expect(uds({ address: 'unix://./relative/path.sock' })).toEqual([
      'spec.endpoints[0].address: unix socket path "./relative/path.sock" must be an absolute path to a file (or @name for an abstract socket)',
    ]);
    expect(uds({ address: 'unix:///path/to/dir/' })).toHaveLength(1);
    expect(uds({ address: 'unix://' })).toEqual(['spec.endpoints[0].address: unix:// needs a socket path, e.g. unix:///var/run/app.sock']);
  });

  test('a socket has no ports, and serves exactly one service port', () => {
    expect(uds({ ports: { grpc: 6553 } })).toEqual(['spec.endpoints[0].ports: must be empty for a unix:// endpoint; a socket has no ports']);
    expect(uds({}, [{ name: 'grpc', number: 6553, protocol: 'GRPC' }, http])).toEqual([
      'spec.endpoints[0].address: a unix:// endpoint needs exactly one port in spec.ports, got 2',
    ]);
  });
});

describe('ServiceEntry DYNAMIC_DNS resolution', () => {
  const dynamic = (spec: Record<string, unknown>) => check({ hosts: ['*.google.com'], ports: [http], resolution: 'DYNAMIC_DNS', ...spec });

  test('wildcard hosts with HTTP, gRPC or TLS ports are valid, in or out of the mesh', () => {
    expect(dynamic({})).toEqual([]);
    expect(dynamic({ hosts: ['*.google.com', '*.amazon.com'], addresses: [] })).toEqual([]);
    expect(dynamic({ hosts: ['*.svc.cluster.local'], ports: [{ name: 'grpc', number: 9090, protocol: 'GRPC' }] })).toEqual([]);
    expect(dynamic({ ports: [{ name: 'tls', number: 443, protocol: 'TLS' }] })).toEqual([]);
    expect(dynamic({ location: 'MESH_INTERNAL' })).toEqual([]);
  });

  test('every host must be a wildcard', () => {
    expect(dynamic({ hosts: ['google.com'] })).toEqual([
      'spec.hosts[0]: resolution DYNAMIC_DNS needs wildcard hosts such as *.example.com, got "google.com"; use resolution DNS for a single host',
    ]);
  });

  test('addresses must be empty', () => {
    expect(dynamic({ addresses: ['10.10.10.10'] })).toEqual(['spec.addresses: must be empty for resolution DYNAMIC_DNS']);
  });

  test('ports must carry the host name: plain TCP (or no protocol) is rejected', () => {
    expect(dynamic({ ports: [http, { name: 'tcp', number: 81, protocol: 'TCP' }] })).toEqual([
      'spec.ports[1].protocol: resolution DYNAMIC_DNS supports only HTTP, HTTP2, HTTP_PROXY, GRPC, GRPC-WEB, TLS, got "TCP"',
    ]);
    expect(dynamic({ ports: [{ name: 'any', number: 81 }] })).toHaveLength(1);
  });

  test('endpoints must be empty', () => {
    expect(dynamic({ endpoints: [{ address: 'in.google.com' }] })).toContain(
      'spec.endpoints: must be empty for resolution DYNAMIC_DNS; set resolution STATIC or DNS to use endpoints',
    );
  });
});

describe('ServiceEntry addresses and ports', () => {
  test('a CIDR block is allowed only with resolution NONE or STATIC', () => {
    const cidr = (resolution: string) => check({ hosts: ['example.com'], addresses: ['1.2.3.4/16'], ports: [http], resolution });
    expect(cidr('NONE')).toEqual([]);
    expect(cidr('STATIC')).toEqual([]);
    expect(cidr('DNS')).toEqual(['spec.addresses[0]: a CIDR block is allowed only with resolution NONE or STATIC, not DNS; use a single IP address']);
    expect(cidr('DNS_ROUND_ROBIN')).toHaveLength(1);
    expect(check({ hosts: ['example.com'], addresses: ['1.2.3.4'], ports: [http], resolution: 'DNS' })).toEqual([]);
  });

  test('a port name is a DNS label of at most 63 characters', () => {
    const named = (name: string) => check({ hosts: ['example.com'], ports: [{ name, number: 80, protocol: 'HTTP' }], resolution: 'DNS' });
    expect(named('http-web')).toEqual([]);
    expect(named('x'.repeat(63))).toEqual([]);
    expect(named('x'.repeat(64))).toEqual([
      `spec.ports[0].name: invalid port name "${'x'.repeat(64)}": use at most 63 letters, digits and '-', starting and ending with a letter or digit`,
    ]);
    expect(named('http_web')).toHaveLength(1);
    expect(named('-http')).toHaveLength(1);
  });
});
