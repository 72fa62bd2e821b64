// Telemetry access logs on a proxy's listeners, as Istio places them: the CLIENT side on every
// outbound HTTP connection manager and tcp_proxy (service ports, passthrough, virtualOutbound), the
// SERVER side on every inbound chain, gateways as CLIENT; Envoy's file access logger with the
// provider's text or JSON format, and the CEL filter of the entry. Without a Telemetry the
// listeners have no access_log at all (the golden cases stay as they were).
import type { TelemetrySpec } from '../../src/api/telemetry.js';
import { ISTIO_JSON_LABELS, ISTIO_TEXT_FORMAT } from '../../src/model/access-log-format.js';
import { Mesh } from '../../src/model/mesh.js';
import { CEL_FILTER, FILE_ACCESS_LOG } from '../../src/translate/access-log.js';
import { gatewaySnapshot } from '../../src/translate/gateway.js';
import { SidecarShare } from '../../src/translate/outbound.js';
import { sidecarSnapshot } from '../../src/translate/snapshot.js';
import { DEFAULT_SIDECAR_OPTIONS } from '../../src/translate/input.js';
import { TypeUrl, type Listener } from '../../src/xds/types.js';
import { buildMesh, buildSources, config, decoded, sidecar, type ServiceFixture } from '../support/mesh-fixtures.js';

const SERVICES: ServiceFixture[] = [
  { namespace: 'shop', name: 'api', clusterIP: '10.96.0.10', selector: { app: 'api' }, ports: [{ name: 'http', port: 8080 }, { name: 'tcp-db', port: 9000 }] },
];
const tel = (ns: string, name: string, spec: TelemetrySpec) => config('Telemetry', ns, name, spec);

type Decoded = { '@type': string; access_log?: { name: string; filter?: { extension_filter?: { name: string; typed_config: unknown } }; typed_config: unknown }[] };
/** Every HCM and tcp_proxy of a listener (its chains and default chain), decoded. */
function proxies(l: Listener): Decoded[] {
  return [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])].flatMap((c) =>
    (c.filters ?? []).filter((f) => f.name === 'envoy.filters.network.http_connection_manager' || f.name === 'envoy.filters.network.tcp_proxy').map((f) => decoded(f.typed_config) as Decoded),
  );
}
const logsOf = (l: Listener) => proxies(l).map((p) => (p.access_log ?? []).map((a) => ({ name: a.name, filter: a.filter?.extension_filter ? decoded(a.filter.extension_filter.typed_config) : undefined, config: decoded(a.typed_config) })));
const listenersOf = (telemetries: ReturnType<typeof tel>[], labels = { app: 'api' }) => sidecarSnapshot(buildMesh(SERVICES, telemetries), sidecar('shop', labels))[TypeUrl.Listener]!;

test('no Telemetry: no listener has an access_log', () => {
  for (const l of listenersOf([]).values()) for (const p of proxies(l)) expect(p.access_log ?? []).toEqual([]);
});

test("the mesh-wide envoy provider: every HCM and tcp_proxy of every listener writes Istio's text line to /dev/stdout", () => {
  const listeners = listenersOf([tel('trellis-system', 'mesh', { accessLogging: [{ providers: [{ name: 'envoy' }] }] })]);
  const expected = { name: FILE_ACCESS_LOG, filter: undefined, config: expect.objectContaining({ '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: '/dev/stdout', log_format: expect.objectContaining({ text_format_source: expect.objectContaining({ inline_string: ISTIO_TEXT_FORMAT }) }) }) };
  for (const name of ['virtualOutbound', '0.0.0.0_8080', '0.0.0.0_9000', 'virtualInbound']) {
    const all = logsOf(listeners.get(name)!);
    expect(all.length).toBeGreaterThan(0);
    for (const logs of all) expect(logs).toEqual([expected]);
  }
});

test('match.mode SERVER: only the inbound listener logs; a filter becomes the CEL extension filter', () => {
  const listeners = listenersOf([tel('shop', 'api-errors', { selector: { matchLabels: { app: 'api' } }, accessLogging: [{ providers: [{ name: 'envoy' }], match: { mode: 'SERVER' }, filter: { expression: 'response.code >= 400' } }] })]);
  expect(logsOf(listeners.get('0.0.0.0_8080')!).flat()).toEqual([]);
  expect(logsOf(listeners.get('virtualOutbound')!).flat()).toEqual([]);
  const inbound = logsOf(listeners.get('virtualInbound')!);
  expect(inbound.length).toBeGreaterThan(0);
  for (const logs of inbound) expect(logs.map((l) => ({ name: l.name, filter: l.filter }))).toEqual([{ name: FILE_ACCESS_LOG, filter: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter', expression: 'response.code >= 400' } }]);
  expect(CEL_FILTER).toBe('envoy.access_loggers.extension_filters.cel');
});

test("accessLogEncoding JSON: the built-in provider writes Istio's labels as json_format, properties not sorted", () => {
  const { store, registry } = buildSources(SERVICES, [tel('shop', 'json', { accessLogging: [{ providers: [{ name: 'envoy' }] }] })]);
  const mesh = new Mesh(store, registry, { accessLogs: { accessLogEncoding: 'JSON' } });
  const listener = sidecarSnapshot(mesh, sidecar('shop', { app: 'api' }))[TypeUrl.Listener]!.get('0.0.0.0_8080')!;
  const config = logsOf(listener)[0]![0]!.config as { log_format: { json_format: { fields: Record<string, { stringValue: string }> }; json_format_options: unknown } };
  const labels = Object.fromEntries(Object.entries(config.log_format.json_format.fields).map(([k, v]) => [k, v.stringValue]));
  expect(labels).toEqual(ISTIO_JSON_LABELS);
  expect(config.log_format.json_format_options).toEqual({ sort_properties: false });
});

test('a workload selector: sidecars of the namespace with other labels share no outbound listeners with it', () => {
  const mesh = buildMesh(SERVICES, [tel('shop', 'web', { selector: { matchLabels: { app: 'web' } }, accessLogging: [{ providers: [{ name: 'envoy' }] }] })]);
  const share = new SidecarShare(DEFAULT_SIDECAR_OPTIONS);
  const web = sidecarSnapshot(mesh, sidecar('shop', { app: 'web' }), {}, undefined, share)[TypeUrl.Listener]!.get('0.0.0.0_8080')!;
  const api = sidecarSnapshot(mesh, sidecar('shop', { app: 'api' }), {}, undefined, share)[TypeUrl.Listener]!.get('0.0.0.0_8080')!;
  expect(logsOf(web).flat()).toHaveLength(1);
  expect(logsOf(api).flat()).toEqual([]);
});

test('a gateway logs as the CLIENT side', () => {
  const gw = config('Gateway', 'shop', 'edge', { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] });
  const client = tel('shop', 'gw', { selector: { matchLabels: { istio: 'ingressgateway' } }, accessLogging: [{ providers: [{ name: 'envoy' }], match: { mode: 'CLIENT' } }] });
  const server = tel('shop', 'gw', { selector: { matchLabels: { istio: 'ingressgateway' } }, accessLogging: [{ providers: [{ name: 'envoy' }], match: { mode: 'SERVER' } }] });
  const listener = (t: typeof client) => [...gatewaySnapshot(buildMesh(SERVICES, [gw, t]), sidecar('shop', { istio: 'ingressgateway' }))[TypeUrl.Listener]!.values()][0]!;
  expect(logsOf(listener(client)).flat()).toHaveLength(1);
  expect(logsOf(listener(server)).flat()).toEqual([]);
});
