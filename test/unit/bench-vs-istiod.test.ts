// The pure parts of bench/vs-istiod: percentiles, /proc parsing, what a simulated Envoy subscribes
// to after CDS and LDS, the objects and nodes both control planes get, istiod's command line and
// the flags added to Trellis's Deployment.
import { istiodCommand, istiodMeshConfig } from '../../bench/vs-istiod/istiod.js';
import { istioNode, markerBytes, virtualServiceSpec } from '../../bench/vs-istiod/mesh.js';
import { maxOf, parseProcIoReadBytes, parseProcStatCpu, parseProcStatusMemory, percentile, ratio, size, summarize } from '../../bench/vs-istiod/stats.js';
import { neededArgs } from '../../bench/vs-istiod/trellis.js';
import { edsNameOfCluster, edsNames, rdsNames } from '../../bench/vs-istiod/xds-names.js';
import { parseNode } from '../../src/xds/proxy-info.js';
import { decodeMessage, encodeMessage, packAny } from '../../src/xds/protos.js';
import { messageName, TypeUrl } from '../../src/xds/types.js';
import { edsCluster, httpConnectionManager, httpListener } from '../support/envoy-resources.js';

const cluster = (o: object) => encodeMessage(messageName(TypeUrl.Cluster), o);
const listener = (o: object) => encodeMessage(messageName(TypeUrl.Listener), o);
const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

describe('percentiles', () => {
  test('nearest rank: p50 of 30 changes is the 15th, p90 the 27th', () => {
    const xs = Array.from({ length: 30 }, (_, i) => 30 - i); // 30..1, unsorted
    expect(percentile(xs, 50)).toBe(15);
    expect(percentile(xs, 90)).toBe(27);
    expect(percentile(xs, 100)).toBe(30);
    expect(summarize(xs)).toEqual({ n: 30, p50: 15, p90: 27, max: 30 });
  });
  test('the maximum of a million values (too many for Math.max as arguments)', () => {
    const xs = Array.from({ length: 1_000_000 }, (_, i) => (i === 654_321 ? 2e6 : i % 1000));
    expect(maxOf(xs)).toBe(2e6);
    expect(summarize(xs).max).toBe(maxOf(xs));
    expect(maxOf([])).toBeNaN();
    expect(maxOf([-3, -1, -2])).toBe(-1);
  });
  test('one value is every percentile; none is NaN', () => {
    expect(percentile([7], 50)).toBe(7);
    expect(percentile([7], 90)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
  test('ratios', () => {
    expect(ratio(25, 100)).toBe('0.25×');
    expect(ratio(150, 100)).toBe('1.50×');
    expect(ratio(2500, 100)).toBe('25×');
    expect(ratio(1, 0)).toBe('n/a');
    expect(ratio(undefined, 3)).toBe('n/a');
  });
  test('sizes', () => {
    expect(size(512 * 1024)).toBe('512.0 KiB');
    expect(size(3.25 * 2 ** 20)).toBe('3.3 MiB');
    expect(size(450 * 2 ** 20)).toBe('450 MiB');
    expect(size(12 * 2 ** 30)).toBe('12.0 GiB');
  });
});

describe('/proc', () => {
  test('CPU seconds from stat, a command with spaces and parentheses included', () => {
    const stat = '4242 (node (worker) x) S 1 4242 4242 0 -1 4194304 100 0 0 0 1234 566 0 0 20 0 11 0 100 1000 200';
    expect(parseProcStatCpu(stat)).toBeCloseTo(18.0);
  });
  test('RSS and its peak from status', () => {
    const status = 'Name:\tpilot-discovery\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t12\n';
    expect(parseProcStatusMemory(status)).toEqual({ rss: 100 * 2 ** 20, peak: 200 * 2 ** 20 });
    expect(() => parseProcStatusMemory('Name:\tx\n')).toThrow('VmRSS');
  });
  test('bytes read from io', () => {
    expect(parseProcIoReadBytes('rchar: 123456\nwchar: 42\nsyscr: 9\n')).toBe(123456);
  });
});

describe('what a simulated Envoy subscribes to', () => {
  test('EDS: only EDS clusters, by service_name when set, else by name', () => {
    const named = cluster({ ...edsCluster('outbound|80||a.ns.svc.cluster.local'), eds_cluster_config: { eds_config: { ads: {} }, service_name: 'eds-a' } });
    const plain = cluster(edsCluster('outbound|80||b.ns.svc.cluster.local'));
    const passthrough = cluster({ name: 'PassthroughCluster', type: 'ORIGINAL_DST', connect_timeout: { seconds: 1 } });
    expect(edsNameOfCluster(named)).toBe('eds-a');
    expect(edsNameOfCluster(plain)).toBe('outbound|80||b.ns.svc.cluster.local');
    expect(edsNameOfCluster(passthrough)).toBeUndefined();
    expect(edsNames([plain, named, passthrough, named])).toEqual(['eds-a', 'outbound|80||b.ns.svc.cluster.local']);
  });
  test('RDS: the route names of HTTP connection managers, in filter chains and the default chain; inline routes and TCP proxies ask for none', () => {
    const outbound80 = listener(httpListener('0.0.0.0_80', 80, '80'));
    const withDefault = listener({
      name: 'virtualInbound',
      address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: packAny('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', { stat_prefix: 'x', cluster: 'c' }) }] }],
      default_filter_chain: { filters: [{ name: 'hcm', typed_config: packAny(HCM, httpConnectionManager('inbound|8080||')) }] },
    });
    const inline = listener({
      name: 'inline',
      address: { socket_address: { address: '0.0.0.0', port_value: 1 } },
      filter_chains: [{ filters: [{ name: 'hcm', typed_config: packAny(HCM, { stat_prefix: 's', route_config: { name: 'inline' } }) }] }],
    });
    expect(rdsNames([outbound80, withDefault, inline, outbound80])).toEqual(['80', 'inbound|8080||']);
  });
});

describe('the objects and the clients', () => {
  test('a VirtualService change is seen in the bytes of the route configuration it becomes', () => {
    const spec = virtualServiceSpec(3, 'm-17') as { http: { match?: { uri: { prefix: string } }[] }[] };
    expect(spec.http[0].match?.[0].uri.prefix).toBe('/m-17/');
    const route = encodeMessage(messageName(TypeUrl.Route), { name: '80', virtual_hosts: [{ name: 'svc-3', domains: ['svc-3'], routes: [{ match: { prefix: '/m-17/' }, route: { cluster: 'c' } }] }] });
    expect(Buffer.from(route).includes(markerBytes('m-17'))).toBe(true);
    expect(Buffer.from(route).includes(markerBytes('m-1'))).toBe(false);
  });
  test('client p is a sidecar of service p mod S in Istio form, read as such by Trellis', () => {
    const node = istioNode(205, 200, '1.31.0');
    expect(node.id).toBe('sidecar~10.250.0.5~svc-5-bench-205.vs-istiod~vs-istiod.svc.cluster.local');
    const wire = encodeMessage('envoy.config.core.v3.Node', node);
    const info = parseNode(decodeMessage<Parameters<typeof parseNode>[0]>('envoy.config.core.v3.Node', wire));
    expect(info).toMatchObject({ kind: 'sidecar', ip: '10.250.0.5', namespace: 'vs-istiod', podName: 'svc-5-bench-205', labels: { app: 'svc-5' } });
    expect(info.metadata.ISTIO_VERSION).toBe('1.31.0');
  });
});

describe('istiod outside a pod', () => {
  const o = { binary: '/x/pilot-discovery', kubeconfig: '/k', namespace: 'vs-istiod-system', workDir: '/w', grpcPort: 18010, httpPort: 18080, monitoringPort: 18014 };
  test('on non-default loopback ports, without TLS xDS or a webhook server', () => {
    const { args } = istiodCommand(o);
    expect(args).toEqual(expect.arrayContaining(['discovery', '--grpcAddr=127.0.0.1:18010', '--httpAddr=127.0.0.1:18080', '--monitoringAddr=127.0.0.1:18014', '--secureGRPCAddr=', '--httpsAddr=', '--kubeconfig=/k', '--namespace=vs-istiod-system']));
  });
  test('writes no CA, no root certificate ConfigMaps and no webhook configurations', () => {
    const { env } = istiodCommand(o);
    expect(env).toMatchObject({ ENABLE_CA_SERVER: 'false', PILOT_CERT_PROVIDER: 'none', INJECT_ENABLED: 'false', VALIDATION_WEBHOOK_CONFIG_NAME: '', INJECTION_WEBHOOK_CONFIG_NAME: '', POD_NAMESPACE: 'vs-istiod-system' });
    expect(istiodMeshConfig(o)).toContain('rootNamespace: vs-istiod-system');
  });
});

describe("Trellis's Deployment flags", () => {
  const chart = ['--log-level=info', '--cert-secret=trellis-webhook-tls'];
  test('the plaintext port is added when the chart did not enable it, and kept when it did', () => {
    expect(neededArgs(chart, 100)).toEqual([...chart, '--xds-address=0.0.0.0:15010']);
    expect(neededArgs([...chart, '--xds-address=0.0.0.0:15010'], 1000)).toEqual([...chart, '--xds-address=0.0.0.0:15010']);
  });
  test('beyond 1,000 clients from one address the per-address stream limit is raised', () => {
    expect(neededArgs(chart, 2000)).toEqual([...chart, '--xds-address=0.0.0.0:15010', '--xds-max-streams-per-identity=2100']);
    expect(neededArgs([...chart, '--xds-max-streams-per-identity=5000'], 2000)).toEqual([...chart, '--xds-address=0.0.0.0:15010', '--xds-max-streams-per-identity=5000']);
  });
});
