// VirtualService validation: Istio's rules (pkg/config/validation), each broken rule named by
// field path. The cases of Istio's own table run in conformance-istio-networking.test.ts; these
// pin the rules one by one, with the messages users see.
import { validationErrors } from '../../src/api/validate.js';
import { headerValueProblem, validateVirtualService } from '../../src/api/validate-virtual-service.js';

const check = (spec: unknown): string[] => validationErrors('VirtualService', 'default', 'vs', spec).map((e) => `${e.path}: ${e.message}`);
const paths = (spec: unknown): string[] => validationErrors('VirtualService', 'default', 'vs', spec).map((e) => e.path);

const to = (host = 'foo.baz') => [{ destination: { host } }];
const http = (route: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ hosts: ['foo.bar'], http: [route], ...extra });

describe('route weights are relative, as in Istio', () => {
  const split = (...weights: Array<number | undefined>) => http({ route: weights.map((weight, i) => ({ destination: { host: `s${i}.foo` }, ...(weight === undefined ? {} : { weight }) })) });

  test('weights need not sum to 100', () => {
    expect(check(split(49, 50))).toEqual([]);
    expect(check(split(550, 500))).toEqual([]);
    expect(check(split(150))).toEqual([]);
    expect(check({ hosts: ['foo.bar'], tcp: [{ route: [{ destination: { host: 'a.foo' }, weight: 550 }, { destination: { host: 'b.foo' }, weight: 500 }] }] })).toEqual([]);
    expect(check({ http: [{ route: [{ destination: { host: 'a.foo' }, weight: 55 }, { destination: { host: 'b.foo' }, weight: 50 }] }] })).toEqual([]);
  });

  test('a weight may not be negative, and several destinations may not all weigh 0', () => {
    expect(check(split(5, -1))).toEqual(['spec.http[0].route[1].weight: must not be negative, got -1']);
    expect(check(split(undefined, undefined))).toEqual([
      'spec.http[0].route: with several destinations at least one weight must be above 0 (weights are relative; a missing weight counts as 0)',
    ]);
    expect(check(split(0, 0))).toHaveLength(1);
    expect(check(split(0))).toEqual([]);
    expect(check(split(1.5, 2))).toEqual(['spec.http[0].route[0].weight: must be a whole number, got 1.5']);
    expect(paths({ hosts: ['foo.bar'], tcp: [{ route: [{ destination: { host: 'a.foo' } }, { destination: { host: 'b.foo' } }] }] })).toEqual(['spec.tcp[0].route']);
  });
});

describe('statuses', () => {
  test('abort and direct response statuses are 200 to 600 inclusive', () => {
    const abort = (httpStatus: number) => check(http({ fault: { abort: { httpStatus } }, route: to() }));
    expect(abort(200)).toEqual([]);
    expect(abort(600)).toEqual([]);
    expect(abort(601)).toEqual(['spec.http[0].fault.abort.httpStatus: must be between 200 and 600, got 601']);
    expect(abort(199)).toHaveLength(1);
    const direct = (status: number) => check(http({ directResponse: { status } }));
    expect(direct(600)).toEqual([]);
    expect(direct(601)).toEqual(['spec.http[0].directResponse.status: must be between 200 and 600, got 601']);
    expect(direct(100)).toHaveLength(1);
  });
});

describe('direct response body', () => {
  const direct = (body: Record<string, string>) => check(http({ directResponse: { status: 200, body } }));

  test('at most 1 MiB, as a string (UTF-8 bytes) or as bytes (decoded)', () => {
    expect(direct({ string: 'a'.repeat(1024 * 1024) })).toEqual([]);
    expect(direct({ string: 'a'.repeat(200 * 1024) })).toEqual([]); // Istio only warns above 100 KiB
    expect(direct({ string: 'a'.repeat(1024 * 1024 + 1) })).toEqual([
      'spec.http[0].directResponse.body.string: must be at most 1 MiB (1048576 bytes), got 1048577 bytes: every proxy receives the body with its configuration',
    ]);
    expect(direct({ string: 'é'.repeat(512 * 1024 + 1) })).toHaveLength(1);
    expect(direct({ bytes: Buffer.alloc(1024 * 1024).toString('base64') })).toEqual([]);
    expect(paths(http({ directResponse: { status: 200, body: { bytes: Buffer.alloc(1024 * 1024 + 1).toString('base64') } } }))).toEqual([
      'spec.http[0].directResponse.body.bytes',
    ]);
  });
});

describe('hosts', () => {
  test('hosts that overlap are rejected, naming both', () => {
    expect(check({ hosts: ['*.foo.bar', '*.bar'], http: [{ route: to() }] })).toEqual([
      'spec.hosts[1]: "*.bar" overlaps "*.foo.bar" (spec.hosts[0]); the hosts of a VirtualService must not overlap',
    ]);
    expect(paths({ hosts: ['a.foo.bar', '*.bar'], http: [{ route: to() }] })).toEqual(['spec.hosts[1]']);
    expect(paths({ hosts: ['*', 'foo.bar'], gateways: ['ns/gw'], http: [{ route: to() }] })).toEqual(['spec.hosts[1]']);
    expect(check({ hosts: ['foo.bar', 'foo.bar'], http: [{ route: to() }] })).toEqual(['spec.hosts[1]: duplicate host "foo.bar"']);
    expect(check({ hosts: ['*.foo.bar', '*.baz.bar', 'foo.bar'], http: [{ route: to() }] })).toEqual([]);
  });

  test('an AUTO_PASSTHROUGH SNI name is a valid host and SNI host of a VirtualService bound only to gateways', () => {
    const sni = 'outbound_.15010_._.istiod.istio-system.svc.cluster.local';
    const spec = (gateways: string[], host = sni) => ({ hosts: [host], gateways, tls: [{ match: [{ sniHosts: [host] }], route: to('istiod.istio-system.svc.cluster.local') }] });
    expect(check(spec(['ns1/gateway']))).toEqual([]);
    expect(paths(spec(['mesh']))).toEqual(['spec.hosts[0]', 'spec.tls[0].match[0].sniHosts[0]']);
    expect(check(spec(['ns1/gateway'], 'outbound_.port_._.istiod'))).toEqual([
      'spec.hosts[0]: invalid host "outbound_.port_._.istiod": a name starting with outbound_ must have the form outbound_.<port>_._.<host>',
      'spec.tls[0].match[0].sniHosts[0]: invalid host "outbound_.port_._.istiod": a name starting with outbound_ must have the form outbound_.<port>_._.<host>',
    ]);
  });

  test('an IP address as SNI host is accepted (Istio only warns); a wildcard in the middle is not', () => {
    const tls = (sni: string) => check({ hosts: ['foo.bar'], tls: [{ match: [{ port: 999, sniHosts: [sni] }], route: to() }] });
    expect(tls('1.1.1.1')).toEqual([]);
    expect(tls('2001:db8::1')).toEqual([]);
    expect(tls('foo.*.com')).toHaveLength(1);
  });

  test('"." and the object\'s own namespace in exportTo are the same entry (when the namespace is known)', () => {
    const spec = { hosts: ['foo.bar'], http: [{ route: to() }], exportTo: ['.', 'ns5'] };
    expect(validateVirtualService(spec, 'ns5')).toEqual([{ path: 'spec.exportTo[1]', message: 'duplicate: "." already exports to this object\'s namespace "ns5"' }]);
    expect(validateVirtualService(spec, 'other')).toEqual([]);
  });
});

describe('HTTP matches', () => {
  const match = (m: Record<string, unknown>) => check(http({ match: [m], route: to() }));

  test('an empty prefix is rejected except for the uri (where it matches every path)', () => {
    expect(match({ uri: { prefix: '' } })).toEqual([]);
    expect(match({ headers: { h: { prefix: '' } } })).toEqual([
      'spec.http[0].match[0].headers[h].prefix: must not be empty (Envoy rejects an empty prefix); to match any value, use an empty match {}',
    ]);
    for (const field of ['method', 'scheme', 'authority']) expect(paths(http({ match: [{ [field]: { prefix: '' } }], route: to() }))).toEqual([`spec.http[0].match[0].${field}.prefix`]);
    expect(paths(http({ match: [{ queryParams: { q: { prefix: '' } } }], route: to() }))).toEqual(['spec.http[0].match[0].queryParams[q].prefix']);
    expect(paths(http({ match: [{ withoutHeaders: { h: { prefix: '' } } }], route: to() }))).toEqual(['spec.http[0].match[0].withoutHeaders[h].prefix']);
    expect(paths({ hosts: ['foo.bar'], http: [{ match: [{ headers: { h: { prefix: '' } } }], delegate: { name: 'd', namespace: 'ns' } }] })).toEqual([
      'spec.http[0].match[0].headers[h].prefix',
    ]);
    expect(match({ headers: { h: {} }, method: {} })).toEqual([]);
  });

  test('HTTP/2 pseudo-headers are valid header match names', () => {
    expect(match({ headers: { ':authority': { exact: 'v' } } })).toEqual([]);
    expect(match({ headers: { ':path': { prefix: '/a' } } })).toEqual([]);
    expect(match({ headers: { '::': { exact: 'v' } } })).toHaveLength(1);
    expect(match({ headers: { ':other': { exact: 'v' } } })).toHaveLength(1);
  });

  test('withoutHeaders regex "*" means the header is absent; other regexes must compile', () => {
    expect(match({ withoutHeaders: { h: { regex: '*' } } })).toEqual([]);
    expect(paths(http({ match: [{ withoutHeaders: { h: { regex: '?' } } }], route: to() }))).toEqual(['spec.http[0].match[0].withoutHeaders[h].regex']);
    expect(paths(http({ match: [{ headers: { h: { regex: '*' } } }], route: to() }))).toEqual(['spec.http[0].match[0].headers[h].regex']);
  });
});

describe('header values', () => {
  test('every % is doubled or opens a closed %VARIABLE%, as Envoy parses them', () => {
    for (const ok of ['foo', '', '100%%', '%HOSTNAME%', 'prefix %HOSTNAME% suffix', '%DYNAMIC_METADATA(["com.test.my_filter"])%', '%DOWNSTREAM_PEER_CERT_V_END(%b %d %H:%M:%S %Y %Z)%', '%REQ(x-a)%', 'tab\there']) {
      expect({ ok, problem: headerValueProblem(ok) }).toEqual({ ok, problem: undefined });
    }
    expect(headerValueProblem('abc%123')).toBe('invalid header value "abc%123": a %VARIABLE% is not closed; write %% for a literal %');
    expect(headerValueProblem('%START_TIME%%')).toBe('invalid header value "%START_TIME%%": a single % at the end; write %% for a literal %');
    expect(headerValueProblem('%DYNAMIC_METADATA(["a" x])%')).toMatch(/expected ',' or '\]'/);
    expect(headerValueProblem('a\nb')).toBe('invalid header value "a\\nb": control characters are not allowed');
  });

  test('checked on the route and on each destination, for set and add, request and response', () => {
    expect(check(http({ route: to(), headers: { request: { set: { 'x-custom': 'abc%123' } } } }))).toEqual([
      'spec.http[0].headers.request.set[x-custom]: invalid header value "abc%123": a %VARIABLE% is not closed; write %% for a literal %',
    ]);
    expect(paths(http({ route: [{ destination: { host: 'foo.baz' }, headers: { response: { add: { name: 'abcd%oijasodifj' } } } }] }))).toEqual([
      'spec.http[0].route[0].headers.response.add[name]',
    ]);
    expect(check(http({ route: to(), headers: { request: { add: { 'x-pct': '100%%' } }, response: { set: { 'x-host': '%HOSTNAME%' } } } }))).toEqual([]);
  });

  test('the Host header cannot be set on a response or removed', () => {
    expect(check(http({ route: to(), headers: { response: { set: { Host: 'a' } } } }))).toEqual(['spec.http[0].headers.response.set[Host]: the Host header cannot be set on a response']);
    expect(check(http({ route: to(), headers: { request: { remove: ['host'] } } }))).toEqual(['spec.http[0].headers.request.remove[0]: the Host header cannot be removed']);
  });
});

describe('redirect, rewrite and the authority', () => {
  test('prefixRewrite alone is a redirect; it excludes uri', () => {
    expect(check(http({ redirect: { prefixRewrite: '/bar' } }))).toEqual([]);
    expect(check(http({ redirect: { prefixRewrite: '/', authority: 'foo.example.com' } }))).toEqual([]);
    expect(check(http({ redirect: { prefixRewrite: '/new', uri: '/old' } }))).toEqual([
      'spec.http[0].redirect: only one of uri or prefixRewrite may be set: uri replaces the whole path, prefixRewrite only the matched prefix',
    ]);
    expect(check(http({ redirect: {} }))).toEqual(['spec.http[0].redirect: at least one of uri, prefixRewrite, authority, scheme, port or derivePort is required']);
  });

  test('with prefixRewrite, every uri match is a prefix match or absent', () => {
    const redirect = { prefixRewrite: '/bar' };
    expect(check(http({ match: [{ uri: { prefix: '/foo' } }], redirect }))).toEqual([]);
    expect(check(http({ match: [{ headers: { 'x-foo': { exact: 'bar' } } }], redirect }))).toEqual([]);
    expect(check(http({ match: [{ uri: { exact: '/foo' } }], redirect }))).toEqual([
      'spec.http[0].match[0].uri: must be a prefix match (or absent) when redirect.prefixRewrite is set, as prefixRewrite replaces the matched prefix',
    ]);
    expect(paths(http({ match: [{ uri: { prefix: '/a' } }, { uri: { regex: '/foo.*' } }], redirect }))).toEqual(['spec.http[0].match[1].uri']);
    expect(check(http({ match: [{ uri: { exact: '/foo' } }], redirect: { uri: '/bar' } }))).toEqual([]);
  });

  test('a rewrite must rewrite something', () => {
    expect(check(http({ rewrite: {}, route: to() }))).toEqual(['spec.http[0].rewrite: at least one of uri, uriRegexRewrite or authority is required']);
    expect(check(http({ rewrite: { uri: '' }, route: to() }))).toHaveLength(1);
    expect(check(http({ rewrite: { authority: 'a' }, route: to() }))).toEqual([]);
    expect(check(http({ rewrite: { uriRegexRewrite: { match: '^/a', rewrite: '/b' } }, route: to() }))).toEqual([]);
  });

  test('the authority is rewritten in one place only', () => {
    expect(check(http({ rewrite: { authority: 'bar' }, headers: { request: { set: { ':authority': 'foo' } } }, route: to() }))).toEqual([
      'spec.http[0].headers.request.set[:authority]: the authority is already set by rewrite.authority; set it in one place only',
    ]);
    expect(paths(http({ headers: { request: { set: { host: 'a' }, add: { ':authority': 'b' } } }, route: to() }))).toEqual(['spec.http[0].headers.request.add[:authority]']);
    expect(check(http({ headers: { request: { set: { ':authority': 'foo' } } }, route: to() }))).toEqual([]);
    // A destination's headers are another place: Istio allows them beside rewrite.authority.
    expect(check(http({ rewrite: { authority: 'bar' }, route: [{ destination: { host: 'foo.baz' }, headers: { request: { set: { ':authority': 'foo' } } } }] }))).toEqual([]);
  });
});
