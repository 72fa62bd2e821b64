// DestinationRule validation: Istio's rules, each broken rule named by field path. Istio's own
// cases run in conformance-istio-networking.test.ts; these pin the message and path of each rule.
import { validationErrors } from '../../src/api/validate.js';
import { validateDestinationRule } from '../../src/api/validate-destination-rule.js';
import type { DestinationRuleSpec } from '../../src/api/destination-rule.js';

const check = (spec: unknown): string[] => validationErrors('DestinationRule', 'ns5', 'reviews', spec).map((e) => `${e.path}: ${e.message}`);
const policy = (trafficPolicy: unknown): string[] => check({ host: 'reviews', trafficPolicy });
const lb = (loadBalancer: unknown): string[] => policy({ loadBalancer, outlierDetection: {} });

describe('traffic policy', () => {
  test('an empty traffic policy is rejected, at the top and in a subset; any one policy is enough', () => {
    expect(policy({})).toEqual([
      'spec.trafficPolicy: must set at least one policy (loadBalancer, connectionPool, outlierDetection, tls, tunnel, proxyProtocol, retryBudget, portLevelSettings), or be left out',
    ]);
    expect(check({ host: 'reviews', subsets: [{ name: 'v1', trafficPolicy: {} }] })).toHaveLength(1);
    expect(check({ host: 'reviews', subsets: [{ name: 'v1', trafficPolicy: {} }] })[0]).toMatch(/^spec\.subsets\[0\]\.trafficPolicy: must set at least one policy/);
    expect(policy({ portLevelSettings: [] })).toHaveLength(1);
    expect(policy({ loadBalancer: { simple: 'ROUND_ROBIN' } })).toEqual([]);
    expect(policy({ tls: { mode: 'ISTIO_MUTUAL' } })).toEqual([]);
    expect(policy({ retryBudget: { percent: 20 } })).toEqual([]);
    expect(policy({ proxyProtocol: { version: 'V1' } })).toEqual([]);
  });

  test('tunnel and proxyProtocol cannot be set together', () => {
    expect(policy({ tunnel: { targetHost: 'example.com', targetPort: 443 }, proxyProtocol: { version: 'V2' } })).toEqual([
      'spec.trafficPolicy: tunnel and proxyProtocol cannot be set together',
    ]);
  });

  test('a port-level policy must set one of its policies', () => {
    expect(policy({ portLevelSettings: [{ port: { number: 80 } }] })).toEqual([
      'spec.trafficPolicy.portLevelSettings[0]: must set at least one policy (loadBalancer, connectionPool, outlierDetection, tls) for the port',
    ]);
    expect(policy({ portLevelSettings: [{ port: { number: 80 }, tls: { mode: 'SIMPLE' } }] })).toEqual([]);
  });
});

describe('connection pool', () => {
  test('an empty connection pool is rejected', () => {
    expect(policy({ connectionPool: {} })).toEqual(['spec.trafficPolicy.connectionPool: must set tcp or http settings, or be left out']);
    expect(policy({ connectionPool: { tcp: {} } })).toEqual([]);
  });

  test('http2KeepAlive needs an interval and a timeout, each at least 1ms in whole milliseconds', () => {
    const keepalive = (http2KeepAlive: unknown): string[] => policy({ connectionPool: { http: { http2KeepAlive } } });
    expect(keepalive({ interval: '15s', timeout: '5s' })).toEqual([]);
    expect(keepalive({ timeout: '5s' })).toEqual(['spec.trafficPolicy.connectionPool.http.http2KeepAlive.interval: required when http2KeepAlive is set']);
    expect(keepalive({ interval: '15s' })).toEqual(['spec.trafficPolicy.connectionPool.http.http2KeepAlive.timeout: required when http2KeepAlive is set']);
    expect(keepalive({ interval: '15.000000005s', timeout: '5s' })).toEqual([
      'spec.trafficPolicy.connectionPool.http.http2KeepAlive.interval: must be a whole number of milliseconds, got "15.000000005s"',
    ]);
    expect(keepalive({ interval: '15s', timeout: '0s' })).toEqual(['spec.trafficPolicy.connectionPool.http.http2KeepAlive.timeout: must be at least 1ms, got "0s"']);
  });
});

describe('outlier detection', () => {
  test('consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors', () => {
    expect(policy({ outlierDetection: { consecutiveLocalOriginFailures: 10 } })).toEqual([
      'spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures: counts only when splitExternalLocalOriginErrors is true: set it, or remove this field',
    ]);
    expect(policy({ outlierDetection: { consecutiveLocalOriginFailures: 10, splitExternalLocalOriginErrors: true } })).toEqual([]);
    expect(policy({ outlierDetection: { consecutiveLocalOriginFailures: 0 } })).toEqual([]);
  });
});

describe('client TLS with insecureSkipVerify', () => {
  const tls = (settings: Record<string, unknown>): string[] => policy({ tls: { insecureSkipVerify: true, ...settings } });

  test('SIMPLE: no CA certificates, credentialName or subjectAltNames', () => {
    expect(tls({ mode: 'SIMPLE' })).toEqual([]);
    expect(tls({ mode: 'SIMPLE', caCertificates: 'ca.pem' })).toEqual([
      'spec.trafficPolicy.tls.insecureSkipVerify: cannot be true with caCertificates set: they configure the server verification it turns off',
    ]);
    expect(tls({ mode: 'SIMPLE', credentialName: 'secret' })).toHaveLength(1);
    expect(tls({ mode: 'SIMPLE', subjectAltNames: ['reviews.default.svc'] })).toHaveLength(1);
  });

  test('MUTUAL: no CA certificates or subjectAltNames; credentialName is allowed (it carries the client certificate)', () => {
    const client = { mode: 'MUTUAL', clientCertificate: 'cert.pem', privateKey: 'key.pem' };
    expect(tls(client)).toEqual([]);
    expect(tls({ mode: 'MUTUAL', credentialName: 'secret' })).toEqual([]);
    expect(tls({ ...client, caCertificates: 'ca.pem', subjectAltNames: ['a'] })).toEqual([
      'spec.trafficPolicy.tls.insecureSkipVerify: cannot be true with caCertificates, subjectAltNames set: they configure the server verification it turns off',
    ]);
  });

  test('insecureSkipVerify false or unset leaves verification settings alone', () => {
    expect(policy({ tls: { mode: 'SIMPLE', caCertificates: 'ca.pem', subjectAltNames: ['a'], insecureSkipVerify: false } })).toEqual([]);
    expect(policy({ tls: { mode: 'SIMPLE', credentialName: 'secret', subjectAltNames: ['a'] } })).toEqual([]);
  });
});

describe('consistent hash', () => {
  const hash = (consistentHash: unknown): string[] => policy({ loadBalancer: { consistentHash } });

  test('cookie attributes need a name, each name once', () => {
    const cookie = (attributes: unknown): string[] => hash({ httpCookie: { name: 'session', ttl: '3600s', attributes } });
    expect(cookie([{ name: 'SameSite', value: 'Strict' }, { name: 'Secure' }])).toEqual([]);
    expect(cookie([{ name: 'SameSite', value: 'Strict' }, { name: 'SameSite', value: 'Lax' }])).toEqual([
      'spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[1].name: duplicate cookie attribute "SameSite"',
    ]);
    expect(cookie([{ value: 'x' }])).toEqual(['spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[0].name: required']);
  });

  test('maglev tableSize is a prime (as Envoy counts them) below 5000011', () => {
    const maglev = (tableSize: unknown): string[] => hash({ useSourceIp: true, maglev: { tableSize } });
    for (const prime of [1, 3, 65537, 4999999]) expect(maglev(prime)).toEqual([]);
    expect(maglev(1000)).toEqual(['spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: must be a prime number, got 1000 (e.g. 65537)']);
    expect(maglev(9)).toHaveLength(1);
    expect(maglev(undefined)).toEqual(['spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: required for maglev: a prime number below 5000011, e.g. 65537']);
    expect(maglev(5000011)).toEqual(['spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: must be less than 5000011, got 5000011']);
  });

  test('the deprecated minimumRingSize cannot be combined with ringHash or maglev', () => {
    expect(hash({ useSourceIp: true, minimumRingSize: 1024 })).toEqual([]);
    expect(hash({ useSourceIp: true, minimumRingSize: 1024, ringHash: { minimumRingSize: 1024 } })).toEqual([
      'spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize: cannot be combined with ringHash or maglev; use ringHash.minimumRingSize instead',
    ]);
  });
});

describe('locality load balancing', () => {
  const locality = (setting: unknown): string[] => lb({ localityLbSetting: setting });
  const P = 'spec.trafficPolicy.loadBalancer.localityLbSetting';

  test('failover names two different regions: no zone, no wildcard', () => {
    expect(locality({ failover: [{ from: 'us-east', to: 'eu-west' }] })).toEqual([]);
    expect(locality({ failover: [{ from: 'region1', to: 'region2/zone1' }] })).toEqual([
      `${P}.failover[0].to: must be a region alone, without zone or subzone, got "region2/zone1"`,
    ]);
    expect(locality({ failover: [{ from: '*', to: 'region2' }] })).toEqual([`${P}.failover[0].from: must name a region: wildcards are not allowed, got "*"`]);
    expect(locality({ failover: [{ from: 'region1', to: 'region1' }] })).toEqual([`${P}.failover[0].to: must differ from the source region "region1"`]);
  });

  test('failoverPriority cannot use locality labels together with failover', () => {
    expect(locality({ failover: [{ from: 'r1', to: 'r2' }], failoverPriority: ['topology.kubernetes.io/region'] })).toEqual([
      `${P}.failoverPriority[0]: cannot use the locality label "topology.kubernetes.io/region" together with failover, which already orders the regions`,
    ]);
    expect(locality({ failover: [{ from: 'r1', to: 'r2' }], failoverPriority: ['topology.istio.io/network', 'version'] })).toEqual([]);
    expect(locality({ failoverPriority: ['topology.kubernetes.io/region', 'topology.kubernetes.io/zone'] })).toEqual([]);
  });

  test('distribute: each weight 1-100, summing to 100', () => {
    expect(locality({ distribute: [{ from: 'a/b/c', to: { 'a/b/c': 80, 'a/b1': 20 } }] })).toEqual([]);
    expect(locality({ distribute: [{ from: 'a/b/c', to: { 'a/b/c': 0, 'a/b1': 100 } }] })).toEqual([`${P}.distribute[0].to[a/b/c]: weight must be between 1 and 100, got 0`]);
    expect(locality({ distribute: [{ from: 'a/b/c', to: { 'a/b/c': 80, 'a/b1': 25 } }] })).toEqual([`${P}.distribute[0].to: weights must sum to 100, got 105`]);
  });

  test('distribute localities: one trailing wildcard at most, no empty part, no overlap', () => {
    const to = (localities: string[]): string[] => {
      const weights = Object.fromEntries(localities.map((l, i) => [l, i === 0 ? 100 - (localities.length - 1) : 1]));
      return locality({ distribute: [{ from: 'a', to: weights }] });
    };
    expect(to(['a/b/c', 'a/b/d', 'a/e', 'f/*'])).toEqual([]);
    expect(to(['a/*/c'])).toEqual([`${P}.distribute[0].to[a/*/c]: a wildcard "*" may appear only once, at the end, got "a/*/c"`]);
    expect(to(['a//c'])).toEqual([`${P}.distribute[0].to[a//c]: must be region, region/zone or region/zone/subzone, with no empty part, got "a//c"`]);
    expect(to(['a', 'a/b'])).toEqual([`${P}.distribute[0].to[a/b]: locality "a/b" overlaps one given before it`]);
    expect(to(['a/b/c', 'a/b'])).toHaveLength(1);
    expect(to(['a/b', 'a/b/c'])).toHaveLength(1);
    expect(to(['*', 'z'])).toHaveLength(1);
    const sources = locality({ distribute: [{ from: 'a/b', to: { x: 100 } }, { from: 'a/b', to: { y: 100 } }] });
    expect(sources).toEqual([`${P}.distribute[1].from: locality "a/b" overlaps one given before it`]);
  });
});

describe('zone-aware load balancing', () => {
  const zoneAware = (setting: unknown): string[] => lb({ zoneAwareLbSetting: setting });
  const P = 'spec.trafficPolicy.loadBalancer.zoneAwareLbSetting';

  test('enabled alone, region failover and non-topology priorities are valid', () => {
    expect(zoneAware({ enabled: true })).toEqual([]);
    expect(zoneAware({ failover: [{ from: 'us-east', to: 'eu-west' }], failoverPriority: ['version', 'app=ratings'] })).toEqual([]);
  });

  test('failover follows the locality rules', () => {
    expect(zoneAware({ failover: [{ from: 'region1/zone1', to: 'region2' }] })).toEqual([
      `${P}.failover[0].from: must be a region alone, without zone or subzone, got "region1/zone1"`,
    ]);
    expect(zoneAware({ failover: [{ from: 'region1', to: '*' }] })).toHaveLength(1);
    expect(zoneAware({ failover: [{ from: 'region1', to: 'region1' }] })).toHaveLength(1);
  });

  test('failoverPriority cannot use locality labels', () => {
    for (const label of ['topology.kubernetes.io/region', 'topology.kubernetes.io/zone', 'topology.istio.io/subzone']) {
      expect(zoneAware({ failoverPriority: [label] })).toEqual([
        `${P}.failoverPriority[0]: cannot use the locality label ${JSON.stringify(label)}: zone-aware load balancing already prefers the local zone, and failover orders the regions`,
      ]);
    }
  });

  test('cannot be combined with localityLbSetting', () => {
    expect(lb({ localityLbSetting: {}, zoneAwareLbSetting: {} })).toEqual(['spec.trafficPolicy.loadBalancer: only one of localityLbSetting or zoneAwareLbSetting may be set']);
  });
});

describe('workloadSelector', () => {
  const selected = { host: 'reviews', workloadSelector: { matchLabels: { app: 'reviews' } } };

  test('a selector without labels is accepted, as Istio does (it only warns): the rule applies to the whole namespace', () => {
    expect(check({ host: 'reviews', workloadSelector: {} })).toEqual([]);
  });

  test('a rule with a selector is exported to its own namespace only', () => {
    expect(check(selected)).toEqual([]);
    expect(check({ ...selected, exportTo: ['.'] })).toEqual([]);
    expect(check({ ...selected, exportTo: ['*'] })).toEqual([
      'spec.exportTo[0]: a DestinationRule with a workloadSelector can only be exported to its own namespace ("."), got "*"',
    ]);
    expect(check({ ...selected, exportTo: ['.', 'somens'] })).toEqual([
      'spec.exportTo: a DestinationRule with a workloadSelector can only be exported to its own namespace ("."): give a single entry, got 2',
    ]);
    expect(check({ host: 'reviews', exportTo: ['.', 'somens'] })).toEqual([]);
  });

  test('given the namespace, another namespace name is rejected and its own accepted', () => {
    const spec = (exportTo: string[]): DestinationRuleSpec => ({ ...selected, exportTo });
    expect(validateDestinationRule(spec(['somens']), 'ns5')).toEqual([
      { path: 'spec.exportTo[0]', message: 'a DestinationRule with a workloadSelector can only be exported to its own namespace ("."), got "somens"' },
    ]);
    expect(validateDestinationRule(spec(['ns5']), 'ns5')).toEqual([]);
    // Without the namespace, a single name might be its own: accepted.
    expect(validateDestinationRule(spec(['somens']))).toEqual([]);
  });
});
