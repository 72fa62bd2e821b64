// Istio's MeshConfig as Trellis reads it (--mesh-config): the extension providers CUSTOM
// AuthorizationPolicies name, checked before use; a policy whose provider cannot be used says
// so on its status (it fails closed).
import { parseMeshConfig } from '../../src/api/validate-mesh-config.js';
import { resolveProvider, serviceLookup } from '../../src/model/extension-providers.js';
import { warningsFor } from '../../src/model/warnings.js';
import { Mesh } from '../../src/model/mesh.js';
import { buildSources, config } from '../support/mesh-fixtures.js';

const YAML = `
accessLogFile: /dev/stdout
extensionProviders:
- name: ext-authz-http
  envoyExtAuthzHttp:
    service: authz.security.svc.cluster.local
    port: 8000
    includeRequestHeadersInCheck: [x-ext-authz]
- name: tracing
  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}
`;

test('a MeshConfig file: the ext_authz providers kept, other providers and fields ignored', () => {
  expect(parseMeshConfig(YAML, 'mesh.yaml').extensionProviders?.map((p) => p.name)).toEqual(['ext-authz-http']);
  expect(parseMeshConfig('', 'empty.yaml')).toEqual({ extensionProviders: [], trustDomainAliases: [] });
});

test("enablePrometheusMerge, Istio's switch for metrics merging at injection: read when set, refused when not a boolean", () => {
  expect(parseMeshConfig('enablePrometheusMerge: false', 'm.yaml').enablePrometheusMerge).toBe(false);
  expect(parseMeshConfig('enablePrometheusMerge: true', 'm.yaml').enablePrometheusMerge).toBe(true);
  expect(() => parseMeshConfig('enablePrometheusMerge: "no"', 'm.yaml')).toThrow('m.yaml: enablePrometheusMerge: must be true or false, got "no"');
});

test('a bad file names the file and every broken field', () => {
  expect(() => parseMeshConfig('extensionProviders: {}', 'm.yaml')).toThrow('m.yaml: extensionProviders: must be a list');
  expect(() => parseMeshConfig('extensionProviders:\n- envoyExtAuthzGrpc: {port: 70000}\n- name: a\n  envoyExtAuthzHttp: {service: s, port: 1, failOpen: "yes"}\n- name: a\n  envoyExtAuthzHttp: {service: s, port: 1}', 'm.yaml')).toThrow(
    'm.yaml: extensionProviders[0].name: required; extensionProviders[0].envoyExtAuthzGrpc.service: required: [<namespace>/]<hostname> of the authorizer; extensionProviders[0].envoyExtAuthzGrpc.port: must be a port between 1 and 65535, got 70000; extensionProviders[1].envoyExtAuthzHttp.failOpen: has the wrong type: "yes"; extensionProviders[2].name: duplicate provider name "a"',
  );
  expect(() => parseMeshConfig('a: [', 'm.yaml')).toThrow(/^m\.yaml: not YAML/);
});

test("a provider resolves to the outbound cluster of its Service's port, `ns/host` pinning the namespace", () => {
  const services = [{ namespace: 'security', ports: [{ number: 8000 }] }];
  const lookup = serviceLookup((host) => (host === 'authz.security.svc.cluster.local' ? services : []));
  const p = (service: string, port = 8000) => resolveProvider({ name: 'a', envoyExtAuthzHttp: { service, port } }, lookup);
  expect(p('authz.security.svc.cluster.local')).toMatchObject({ kind: 'http', cluster: 'outbound|8000||authz.security.svc.cluster.local' });
  expect(p('security/authz.security.svc.cluster.local')).toMatchObject({ kind: 'http' });
  expect(p('other/authz.security.svc.cluster.local')).toEqual({ name: 'a', problem: 'service other/authz.security.svc.cluster.local port 8000 is not in the mesh' });
  expect(p('authz.security.svc.cluster.local', 9000)).toHaveProperty('problem');
  expect(resolveProvider({ name: 'b', envoyExtAuthzHttp: { service: 'authz.security.svc.cluster.local', port: 8000, pathPrefix: 'check' } }, lookup)).toEqual({ name: 'b', problem: 'pathPrefix check must start with /' });
});

test('a CUSTOM policy whose provider is missing or unusable warns on its status', () => {
  const policy = config('AuthorizationPolicy', 'shop', 'ext', { action: 'CUSTOM', provider: { name: 'ext-authz-http' }, rules: [{}] });
  const { store, registry } = buildSources([], [policy]);
  expect(warningsFor(policy, new Mesh(store, registry))).toEqual([
    'spec.provider.name: no extension provider "ext-authz-http" in the mesh configuration (--mesh-config); the requests this policy selects are denied',
  ]);
  const meshWith = new Mesh(store, registry, { extensionProviders: parseMeshConfig(YAML, 'm').extensionProviders });
  expect(warningsFor(policy, meshWith)).toEqual([
    'spec.provider.name: extension provider "ext-authz-http" is unusable: service authz.security.svc.cluster.local port 8000 is not in the mesh; the requests this policy selects are denied',
  ]);
});

test('access logs: envoyFileAccessLog providers kept, defaultProviders, accessLogEncoding and accessLogFormat read', () => {
  const m = parseMeshConfig(
    'accessLogEncoding: JSON\naccessLogFormat: \'{"code": "%RESPONSE_CODE%"}\'\ndefaultProviders:\n  accessLogging: [envoy]\n  tracing: [zipkin]\nextensionProviders:\n- name: json\n  envoyFileAccessLog:\n    path: /dev/stdout\n    logFormat: {labels: {}}\n',
    'mesh.yaml',
  );
  expect(m).toEqual({
    extensionProviders: [{ name: 'json', envoyFileAccessLog: { path: '/dev/stdout', logFormat: { labels: {} } } }],
    trustDomainAliases: [],
    defaultProviders: { accessLogging: ['envoy'] },
    accessLogEncoding: 'JSON',
    accessLogFormat: '{"code": "%RESPONSE_CODE%"}',
  });
});

test('access logs: a bad field is an error naming it', () => {
  expect(() => parseMeshConfig('accessLogEncoding: XML', 'm.yaml')).toThrow('m.yaml: accessLogEncoding: must be TEXT or JSON, got "XML"');
  expect(() => parseMeshConfig("accessLogEncoding: JSON\naccessLogFormat: '[1]'", 'm.yaml')).toThrow('m.yaml: accessLogFormat: must be a JSON object of keys to format strings when accessLogEncoding is JSON');
  expect(() => parseMeshConfig('extensionProviders:\n- name: f\n  envoyFileAccessLog: {logFormat: {text: a, labels: {}}}', 'm.yaml')).toThrow('m.yaml: extensionProviders[0].envoyFileAccessLog.logFormat: set only one of text and labels');
});
