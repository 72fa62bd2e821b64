// Which access logs a workload writes, with Istio's Telemetry rules (pilot's telemetry.go and
// telemetry_logging.go): mesh-wide, namespace-wide and workload levels (oldest first at each),
// the deepest level naming providers replaces the others', disabled turns a provider off,
// match.mode picks a side, the filter of the entry that enabled a provider; the built-in envoy
// provider in Istio's text format, or JSON by accessLogEncoding; envoyFileAccessLog providers with
// their own format; the status warnings.
import type { TelemetrySpec } from '../../src/api/telemetry.js';
import type { ExtensionProvider } from '../../src/api/mesh-config.js';
import { ISTIO_JSON_LABELS, ISTIO_TEXT_FORMAT } from '../../src/model/access-log-format.js';
import { Mesh, type MeshOptions } from '../../src/model/mesh.js';
import { warningsFor } from '../../src/model/warnings.js';
import { buildSources, config } from '../support/mesh-fixtures.js';

const ROOT = 'trellis-system';
const tel = (ns: string, name: string, spec: TelemetrySpec) => config('Telemetry', ns, name, spec);
const meshOf = (configs: ReturnType<typeof tel>[], opts: MeshOptions = {}): Mesh => {
  const { store, registry } = buildSources([], configs);
  return new Mesh(store, registry, opts);
};
/** provider[filter] per side, for short assertions. */
const sides = (mesh: Mesh, ns: string, labels: Record<string, string> = {}) =>
  Object.fromEntries((['CLIENT', 'SERVER'] as const).map((side) => [side, mesh.accessLogsFor(ns, labels, side).map((l) => (l.filter ? `${l.provider}[${l.filter}]` : l.provider))]));

const JSON_PROVIDER: ExtensionProvider = { name: 'json', envoyFileAccessLog: { path: '/dev/stdout', logFormat: { labels: {} } } };

describe('which Telemetries apply', () => {
  test('no Telemetry: nothing is logged (and no default providers)', () => {
    expect(sides(meshOf([]), 'default')).toEqual({ CLIENT: [], SERVER: [] });
  });

  test('mesh-wide in the root namespace reaches every namespace; elsewhere only its own', () => {
    const mesh = meshOf([tel(ROOT, 'mesh', { accessLogging: [{ providers: [{ name: 'envoy' }] }] }), tel('a', 'ns', { accessLogging: [{ providers: [{ name: 'envoy' }], match: { mode: 'SERVER' } }] })]);
    expect(sides(mesh, 'b')).toEqual({ CLIENT: ['envoy'], SERVER: ['envoy'] });
    const onlyNs = meshOf([tel('a', 'ns', { accessLogging: [{ providers: [{ name: 'envoy' }] }] })]);
    expect(sides(onlyNs, 'a')).toEqual({ CLIENT: ['envoy'], SERVER: ['envoy'] });
    expect(sides(onlyNs, 'b')).toEqual({ CLIENT: [], SERVER: [] });
  });

  test('the workload level overrides the namespace, which overrides the mesh: disabled turns off what a parent turned on', () => {
    const mesh = meshOf([
      tel(ROOT, 'mesh', { accessLogging: [{ providers: [{ name: 'envoy' }] }] }),
      tel('default', 'details-off', { selector: { matchLabels: { app: 'details' } }, accessLogging: [{ providers: [{ name: 'envoy' }], disabled: true }] }),
    ]);
    expect(sides(mesh, 'default', { app: 'details' })).toEqual({ CLIENT: [], SERVER: [] });
    expect(sides(mesh, 'default', { app: 'reviews' })).toEqual({ CLIENT: ['envoy'], SERVER: ['envoy'] });
  });

  test("Istio's task: disable inbound logging of one workload (match.mode SERVER)", () => {
    const mesh = meshOf([
      tel(ROOT, 'mesh', { accessLogging: [{ providers: [{ name: 'envoy' }] }] }),
      tel('default', 'no-inbound', { selector: { matchLabels: { app: 'details' } }, accessLogging: [{ providers: [{ name: 'envoy' }], match: { mode: 'SERVER' }, disabled: true }] }),
    ]);
    expect(sides(mesh, 'default', { app: 'details' })).toEqual({ CLIENT: ['envoy'], SERVER: [] });
  });

  test('a level naming providers replaces those in scope; an entry without providers acts on its parent level\'s', () => {
    const opts = { extensionProviders: [JSON_PROVIDER] };
    const replaced = meshOf([tel(ROOT, 'mesh', { accessLogging: [{ providers: [{ name: 'envoy' }] }] }), tel('default', 'ns', { accessLogging: [{ providers: [{ name: 'json' }] }] })], opts);
    expect(sides(replaced, 'default')).toEqual({ CLIENT: ['json'], SERVER: ['json'] });
    const inherited = meshOf([tel(ROOT, 'mesh', { accessLogging: [{ providers: [{ name: 'envoy' }] }] }), tel('default', 'ns', { accessLogging: [{ filter: { expression: 'response.code >= 400' } }] })], opts);
    expect(sides(inherited, 'default')).toEqual({ CLIENT: ['envoy'], SERVER: ['envoy'] });
    const disabledNs = meshOf([tel(ROOT, 'mesh', { accessLogging: [{ providers: [{ name: 'envoy' }] }] }), tel('default', 'ns', { accessLogging: [{ disabled: true }] })]);
    expect(sides(disabledNs, 'default')).toEqual({ CLIENT: [], SERVER: [] });
  });

  test('the filter of the entry that names the provider; match.mode CLIENT', () => {
    const mesh = meshOf([tel('default', 'errors', { accessLogging: [{ providers: [{ name: 'envoy' }], filter: { expression: 'response.code >= 400' }, match: { mode: 'CLIENT' } }] })]);
    expect(sides(mesh, 'default')).toEqual({ CLIENT: ['envoy[response.code >= 400]'], SERVER: [] });
  });

  test('of two namespace-wide Telemetries the oldest applies; of selector matches, the oldest; a selector in the root namespace is for its own workloads', () => {
    const mesh = meshOf([
      tel('default', 'old', { accessLogging: [{ providers: [{ name: 'envoy' }], match: { mode: 'CLIENT' } }] }),
      tel('default', 'young', { accessLogging: [{ providers: [{ name: 'envoy' }] }] }),
      tel(ROOT, 'root-selector', { selector: { matchLabels: { app: 'x' } }, accessLogging: [{ providers: [{ name: 'envoy' }] }] }),
    ]);
    expect(sides(mesh, 'default', { app: 'x' })).toEqual({ CLIENT: ['envoy'], SERVER: [] });
    expect(sides(mesh, ROOT, { app: 'x' })).toEqual({ CLIENT: ['envoy'], SERVER: ['envoy'] });
    expect(mesh.telemetries().namespaceWideOf('default')?.name).toBe('old');
  });

  test('targetRefs to a Gateway API Gateway pick that gateway\'s pods in the namespace', () => {
    const mesh = meshOf([tel('gw', 'gw-logs', { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'ingress' }], accessLogging: [{ providers: [{ name: 'envoy' }] }] })]);
    expect(sides(mesh, 'gw', { 'gateway.networking.k8s.io/gateway-name': 'ingress' }).CLIENT).toEqual(['envoy']);
    expect(sides(mesh, 'gw', {}).CLIENT).toEqual([]);
  });

  test('defaultProviders.accessLogging log where no Telemetry says otherwise', () => {
    const mesh = meshOf([], { accessLogs: { defaultProviders: { accessLogging: ['envoy'] } } });
    expect(sides(mesh, 'default')).toEqual({ CLIENT: ['envoy'], SERVER: ['envoy'] });
  });
});

describe('the providers', () => {
  const one = (opts: MeshOptions, name = 'envoy') => meshOf([tel('default', 't', { accessLogging: [{ providers: [{ name }] }] })], opts).accessLogsFor('default', {}, 'SERVER')[0];

  test("built-in envoy: /dev/stdout in Istio's text format; JSON with Istio's labels when accessLogEncoding is JSON; the mesh's accessLogFormat", () => {
    expect(one({})).toEqual({ provider: 'envoy', path: '/dev/stdout', omitEmptyValues: false, format: { text: ISTIO_TEXT_FORMAT } });
    expect(ISTIO_TEXT_FORMAT).toContain('"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%');
    expect(one({ accessLogs: { accessLogEncoding: 'JSON' } })?.format).toEqual({ json: ISTIO_JSON_LABELS });
    expect(one({ accessLogs: { accessLogFormat: '%REQ(:METHOD)%' } })?.format).toEqual({ text: '%REQ(:METHOD)%\n' });
  });

  test('envoyFileAccessLog: path, text (a newline added), labels (empty: Istio\'s JSON labels), names matched case-insensitively', () => {
    const providers: ExtensionProvider[] = [
      { name: 'file', envoyFileAccessLog: { path: '/var/log/a.log', logFormat: { text: '%RESPONSE_CODE%' } } },
      { name: 'json', envoyFileAccessLog: { logFormat: { labels: { code: '%RESPONSE_CODE%' } } } },
      JSON_PROVIDER,
    ];
    expect(one({ extensionProviders: providers.slice(0, 1) }, 'FILE')).toMatchObject({ path: '/var/log/a.log', format: { text: '%RESPONSE_CODE%\n' } });
    expect(one({ extensionProviders: providers.slice(1, 2) }, 'json')).toMatchObject({ path: '/dev/stdout', format: { json: { code: '%RESPONSE_CODE%' } } });
    expect(one({ extensionProviders: providers.slice(2) }, 'json')?.format).toEqual({ json: ISTIO_JSON_LABELS });
  });

  test('a provider that is not defined, or not a file access log, logs nothing, and the Telemetry says so', () => {
    const authz: ExtensionProvider = { name: 'authz', envoyExtAuthzGrpc: { service: 'a.b', port: 9000 } };
    const t = tel('default', 't', { accessLogging: [{ providers: [{ name: 'nope' }, { name: 'authz' }] }] });
    const mesh = meshOf([t], { extensionProviders: [authz] });
    expect(mesh.accessLogsFor('default', {}, 'CLIENT')).toEqual([]);
    expect(warningsFor(t, mesh)).toEqual([
      'spec.accessLogging[0].providers[0]: "nope" is not a provider of the mesh configuration (extensionProviders) nor the built-in envoy: nothing is logged through it',
      'spec.accessLogging[0].providers[1]: "authz" is not an envoyFileAccessLog provider (the only kind of access log Trellis writes): nothing is logged through it',
    ]);
  });

  test('a younger namespace-wide Telemetry is ignored, and its status says which one applies', () => {
    const old = tel('default', 'old', { accessLogging: [{ providers: [{ name: 'envoy' }] }] });
    const young = tel('default', 'young', { accessLogging: [{ disabled: true }] });
    expect(warningsFor(young, meshOf([old, young]))).toEqual(['spec: default/old is older and also applies to the whole namespace: this Telemetry is ignored (Istio uses the oldest)']);
  });
});
