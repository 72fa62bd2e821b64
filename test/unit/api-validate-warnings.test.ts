// What Istio accepts with a warning: the object stays valid, the warning names the field, the
// webhook returns it to kubectl (admission warnings) and the controllers put it in the object's
// Warnings condition (main.ts). Istio's own warning cases are in conformance-istio-networking.
import { validationWarnings, validateManifest } from '../../src/api/validate.js';
import { validateAdmission } from '../../src/webhooks/validation.js';

const warn = (kind: string, spec: unknown): string[] => validationWarnings(kind, spec).map((w) => `${w.path}: ${w.message}`);

test('DestinationRule: failover without outlier detection, deprecated consecutiveErrors, a selector without labels', () => {
  expect(warn('DestinationRule', { host: 'r', trafficPolicy: { loadBalancer: { localityLbSetting: { failover: [{ from: 'a', to: 'b' }] } } } })).toEqual([
    'spec.trafficPolicy.loadBalancer.localityLbSetting.failover: failover takes effect only with outlierDetection, which this traffic policy does not set',
  ]);
  expect(warn('DestinationRule', { host: 'r', trafficPolicy: { loadBalancer: { localityLbSetting: { failover: [{ from: 'a', to: 'b' }] } }, outlierDetection: { consecutive5xxErrors: 1 } } })).toEqual([]);
  expect(warn('DestinationRule', { host: 'r', subsets: [{ name: 'v1', labels: { v: '1' }, trafficPolicy: { outlierDetection: { consecutiveErrors: 3 } } }] })).toEqual([
    'spec.subsets[0].trafficPolicy.outlierDetection.consecutiveErrors: is deprecated: use consecutive5xxErrors or consecutiveGatewayErrors',
  ]);
  expect(warn('DestinationRule', { host: 'r', workloadSelector: {} })).toEqual(['spec.workloadSelector: has no labels: the rule applies to every workload of its namespace']);
});

test('ServiceEntry: ports captured without addresses, NONE with a selector, partial wildcards', () => {
  expect(warn('ServiceEntry', { hosts: ['a.com'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }, { number: 81, name: 'tcp', protocol: 'TCP' }], resolution: 'NONE' })).toEqual([
    'spec.ports[1]: TCP on port 81 with no addresses: the entry captures every connection to that port, whatever its destination',
  ]);
  expect(warn('ServiceEntry', { hosts: ['a.com'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], workloadSelector: { labels: { app: 'x' } } })).toEqual([
    'spec.resolution: NONE with a workloadSelector: the selected workloads are not used as endpoints; use STATIC',
  ]);
  // Istio's own documentation example: STATIC with a selector and a targetPort warns of nothing.
  expect(warn('ServiceEntry', { hosts: ['d.com'], location: 'MESH_INTERNAL', ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 }], resolution: 'STATIC', workloadSelector: { labels: { app: 'd' } } })).toEqual([]);
  expect(warn('ServiceEntry', { hosts: ['*example.com'], ports: [{ number: 443, name: 'https', protocol: 'HTTPS' }], resolution: 'DNS' })).toEqual([
    'spec.hosts[0]: the partial wildcard "*example.com" matches any host ending in "example.com", not only subdomains',
  ]);
});

test('VirtualService: an ineffective match, a deprecated field, a gateway named as a domain, an IP as SNI', () => {
  const route = [{ destination: { host: 'b' } }];
  expect(warn('VirtualService', { hosts: ['a'], http: [{ match: [{ uri: { prefix: '/api' } }, { uri: { prefix: '/api/v1' }, method: { exact: 'GET' } }], route }] })).toEqual([
    'spec.http[0].match[1]: is ineffective: match[0] already matches every request it would',
  ]);
  expect(warn('VirtualService', { hosts: ['a'], http: [{ match: [{ uri: { prefix: '/api' }, method: { exact: 'GET' } }, { uri: { prefix: '/api/v1' } }], route }] })).toEqual([]);
  expect(warn('VirtualService', { hosts: ['a'], gateways: ['gw.example.com'], http: [{ mirrorPercent: 5, route }] })).toEqual([
    'spec.gateways[0]: names gateway "gw.example.com" as a domain name: use <namespace>/<name>',
    'spec.http[0].mirrorPercent: is deprecated: use mirrorPercentage',
  ]);
  expect(warn('VirtualService', { hosts: ['a'], tls: [{ match: [{ port: 443, sniHosts: ['1.1.1.1'] }], route }] })).toEqual([
    'spec.tls[0].match[0].sniHosts[0]: "1.1.1.1" is an IP address: clients do not send one as SNI',
  ]);
});

test('the webhook admits a valid object with its warnings, and an invalid one is refused without them', () => {
  const manifest = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'r', namespace: 'shop' }, spec: { host: 'r', workloadSelector: {} } };
  const request = { uid: 'u1', kind: { group: 'networking.istio.io', version: 'v1', kind: 'DestinationRule' }, operation: 'CREATE' as const, namespace: 'shop', object: manifest };
  expect(validateAdmission(request)).toEqual({ uid: 'u1', allowed: true, warnings: ['DestinationRule shop/r: spec.workloadSelector: has no labels: the rule applies to every workload of its namespace'] });
  expect(validateManifest(manifest)?.warnings).toHaveLength(1);
  const invalid = { ...manifest, spec: { host: '', workloadSelector: {} } };
  expect(validateAdmission({ ...request, object: invalid })).toMatchObject({ allowed: false });
  expect(validateManifest(invalid)?.warnings).toEqual([]);
});
