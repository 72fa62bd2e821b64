import { parseConfig } from '../../src/config.js';
import { parseDurationMs } from '../../src/util/duration.js';

describe('control plane options', () => {
  test('defaults', () => {
    expect(parseConfig([], {})).toMatchObject({ monitoringHost: '0.0.0.0', monitoringPort: 15014, webhookPort: 15017, namespace: 'trellis-system', kubeconfig: undefined, logLevel: 'info' });
    expect(parseConfig([], { POD_NAMESPACE: 'mesh' })).toMatchObject({ webhookDnsNames: ['trellis.mesh.svc', 'trellis.mesh.svc.cluster.local', 'trellis.mesh'] });
  });
  test('flags win over the environment', () => {
    const c = parseConfig(['--monitoring-address', '127.0.0.1:9000', '--log-level', 'debug'], { TRELLIS_MONITORING_ADDRESS: '0.0.0.0:1' });
    expect(c).toMatchObject({ monitoringHost: '127.0.0.1', monitoringPort: 9000, logLevel: 'debug' });
  });
  test('--help', () => expect(parseConfig(['-h'], {})).toBe('help'));
  test('xDS: authenticated TLS on 15012; plaintext off unless asked for; proxies sent to 15012', () => {
    expect(parseConfig([], {})).toMatchObject({ xdsAddress: undefined, xdsTlsAddress: '0.0.0.0:15012', discoveryAddress: 'trellis.trellis-system.svc:15012' });
    expect(parseConfig(['--xds-address', '127.0.0.1:15010'], {})).toMatchObject({ xdsAddress: '127.0.0.1:15010' });
    expect(parseConfig(['--xds-tls-address', '127.0.0.1:0'], {})).toMatchObject({ xdsTlsAddress: '127.0.0.1:0' });
    expect(() => parseConfig([], { TRELLIS_XDS_TLS_ADDRESS: 'off' })).toThrow('--xds-tls-address: cannot be off');
    expect(() => parseConfig(['--xds-tls-address', '15012'], {})).toThrow('--xds-tls-address: want HOST:PORT with a port 0-65535, got "15012"');
  });
  test('identity: trust domain, certificate lifetimes, root namespace', () => {
    expect(parseConfig([], {})).toMatchObject({ trustDomain: 'cluster.local', caSecret: 'istio-ca-secret', workloadCertTtlSeconds: 86400, maxWorkloadCertTtlSeconds: 90 * 86400, rootNamespace: 'trellis-system' });
    expect(parseConfig(['--trust-domain', 'example.org', '--workload-cert-ttl', '1h30m'], {})).toMatchObject({ trustDomain: 'example.org', workloadCertTtlSeconds: 5400 });
    expect(() => parseConfig(['--workload-cert-ttl', '3d'], {})).toThrow('--workload-cert-ttl: want a duration such as 1h, 30m or 90s, got "3d"');
    expect(() => parseConfig(['--workload-cert-ttl', '100h', '--max-workload-cert-ttl', '1h'], {})).toThrow('longer than --max-workload-cert-ttl');
    expect(() => parseConfig(['--trust-domain', 'Bad Domain'], {})).toThrow('--trust-domain');
  });
  test('outbound traffic policy', () => {
    expect(parseConfig([], {})).toMatchObject({ outboundTrafficPolicy: 'ALLOW_ANY' });
    expect(parseConfig([], { TRELLIS_OUTBOUND_TRAFFIC_POLICY: 'REGISTRY_ONLY' })).toMatchObject({ outboundTrafficPolicy: 'REGISTRY_ONLY' });
  });
  test.each([
    [['--monitoring-address', 'nope'], '--monitoring-address: want HOST:PORT with a port 0-65535, got "nope"'],
    [['--log-level', 'loud'], '--log-level: want error, warn, info or debug, got "loud"'],
    [['--bogus'], "Unknown option '--bogus'"],
    [['--outbound-traffic-policy', 'DENY'], '--outbound-traffic-policy: want ALLOW_ANY or REGISTRY_ONLY, got "DENY"'],
    [['--xds-request-rate', '0'], '--xds-request-rate: want a whole number >= 1, got "0"'],
    [['--xds-max-message-size', '4MiB'], '--xds-max-message-size: want a whole number >= 1, got "4MiB"'],
    [['--debounce-after', '0ms'], '--debounce-after: want a duration such as 100ms, 10s or 1m, got "0ms"'],
    [['--debounce-max', '10'], '--debounce-max: want a duration such as 100ms, 10s or 1m, got "10"'],
    [['--debounce-after', '2s', '--debounce-max', '1s'], '--debounce-max: 1000ms is shorter than --debounce-after (2000ms)'],
  ])('%j is rejected with a message', (argv, msg) => expect(() => parseConfig(argv, {})).toThrow(msg));
  test("push debounce: Istio's defaults (100ms of quiet, at most 10s), each a flag", () => {
    expect(parseConfig([], {})).toMatchObject({ debounce: { quietMs: 100, maxDelayMs: 10_000 } });
    expect(parseConfig(['--debounce-after', '250ms', '--debounce-max', '1m30s'], {})).toMatchObject({ debounce: { quietMs: 250, maxDelayMs: 90_000 } });
    expect(parseConfig(['--debounce-after', '1s', '--debounce-max', '1s'], {})).toMatchObject({ debounce: { quietMs: 1000, maxDelayMs: 1000 } });
  });
  test('xDS limits: defaults like Istio (4 MiB messages), each a flag', () => {
    expect(parseConfig([], {})).toMatchObject({ xdsLimits: { maxMessageBytes: 4 * 1024 * 1024, maxStreamsPerConnection: 64, requestsPerSecond: 100, requestBurst: 500 } });
    const c = parseConfig(['--xds-max-message-size', '1048576', '--xds-max-streams-per-identity', '10', '--xds-request-rate', '20', '--xds-admission-rate', '5', '--xds-max-names-per-type', '100'], {});
    expect(c).toMatchObject({ xdsLimits: { maxMessageBytes: 1048576, maxStreamsPerIdentity: 10, requestsPerSecond: 20, requestBurst: 100, admissionsPerSecond: 5, maxNamesPerType: 100 } });
  });
});

describe('durations', () => {
  test.each([
    ['1s', 1000],
    ['0.5s', 500],
    ['100ms', 100],
    ['1h', 3_600_000],
    ['2m', 120_000],
  ])('%s = %d ms', (t, ms) => expect(parseDurationMs(t)).toBe(ms));
  test.each(['', '1', 's', '-1s', '1d', '1.s'])('%j is not a duration', (t) => expect(parseDurationMs(t)).toBeUndefined());
});
