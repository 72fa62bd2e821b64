// trellisctl proxy-status and proxy-config, as a user runs them (the built CLI), against a local
// HTTP server answering like the control plane's monitoring port with recorded responses:
// - syncz-sidecar.json + config-dump-trellis.json: Trellis (installed by the chart) with its
//   ingress gateway and a sidecar Envoy connected; /debug/config_dump?proxy= of the sidecar.
// - syncz-gateway-nack.json + config-dump-envoy.json: a gateway that NACKed a listener, and
//   that Envoy's own admin /config_dump (proxy-config reads Envoy's ConfigDump shape too).
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { SyncStatus } from '../../src/cli/control-plane.js';
import { findProxy } from '../../src/cli/control-plane.js';
import { proxyStatusTable, typeCell } from '../../src/cli/proxy-status.js';
import { root, run } from '../support/cluster.js';

const cli = path.join(root, 'dist/src/cli/main.js');
const fixture = (name: string): string => fs.readFileSync(path.join(root, 'test/fixtures/chart/trellisctl', name), 'utf8');
const RECORDED = {
  trellis: { syncz: fixture('syncz-sidecar.json'), dump: fixture('config-dump-trellis.json') },
  envoy: { syncz: fixture('syncz-gateway-nack.json'), dump: fixture('config-dump-envoy.json') },
};
const SIDECAR = 'reviews-v1-7d8f9c-abcde';
const SIDECAR_ID = `sidecar~10.244.0.99~${SIDECAR}.chart-rec~chart-rec.svc.cluster.local`;
const GATEWAY = 'trellis-ingressgateway-7bc69b65c6-nnh92';
const nackProxies = JSON.parse(RECORDED.envoy.syncz) as SyncStatus[];

let server: http.Server;
let url: string;
const requests: string[] = [];
let serving: { syncz: string; dump: string | undefined } = { ...RECORDED.trellis };

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/debug/syncz') return void res.writeHead(200, { 'content-type': 'application/json' }).end(serving.syncz);
    if (u.pathname === '/debug/config_dump' && serving.dump !== undefined) {
      const ids = [RECORDED.trellis.syncz, RECORDED.envoy.syncz].flatMap((text) => (JSON.parse(text) as SyncStatus[]).map((p) => p.id));
      // As the control plane answers a proxy it does not have: 404 with what is missing.
      if (!ids.includes(u.searchParams.get('proxy') ?? '')) return void res.writeHead(404, { 'content-type': 'text/plain' }).end(`no connected proxy "${u.searchParams.get('proxy')}"\n`);
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(serving.dump);
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

beforeEach(() => {
  serving = { ...RECORDED.trellis };
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const ctl = (...args: string[]): ReturnType<typeof run> => run(process.execPath, [cli, ...args, '--control-plane', url]);
/** The table's rows as cells (split on runs of two or more spaces). */
const rows = (out: string): string[][] =>
  out
    .trim()
    .split('\n')
    .map((l) => l.split(/\s{2,}/));

test('proxy-status: each connected proxy, the version it ACKed per type with its resource count', async () => {
  const r = await ctl('proxy-status');
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(rows(r.stdout)).toEqual([
    ['NAME', 'TYPE', 'AGENT', 'CDS', 'LDS', 'EDS', 'RDS', 'LAST NACK'],
    [`${SIDECAR}.chart-rec`, 'sidecar', 'envoy/1.36.4', 'PRIDRqRgx3Jk (15)', '1Jj8mQKLsW6H (8)', 'aUdOxDosVUQ9 (12)', 'Do4Nem5k0rzt (3)', '-'],
    ['trellis-ingressgateway-5f4549784-xjgxq.chart-rec', 'router', 'envoy/1.36.4', '4grEkVf48s5b (13)', '47DEQpj8HBSa (0)', 'Yr3kpH0QyDd1 (12)', '-', '-'],
  ]);
});

test('proxy-status: resources held back after a NACK, and the last NACK with its age and message', async () => {
  serving = { ...RECORDED.envoy };
  const r = await ctl('proxy-status');
  expect(r.code).toBe(0);
  const [, row] = rows(r.stdout);
  expect(row.slice(0, 7)).toEqual([`${GATEWAY}.chart-manual`, 'router', 'envoy/1.36.4', 'loqHT9Bbn1ML (14)', 'mhg0uWbXTtF0 (7) + 1 rejected', '4RU_EGLSH7NX (8)', 'bvUmw_dLQ0C9 (3)']);
  expect(row[7]).toMatch(/^LDS \d+[smhd] ago: Error adding\/updating listener\(s\) 0\.0\.0\.0_15021: error/);
  expect(row[7].length).toBeLessThanOrEqual(80);
});

test('proxy-status -o json prints /debug/syncz as the control plane gave it', async () => {
  const r = await ctl('proxy-status', '-o', 'json');
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual(JSON.parse(RECORDED.trellis.syncz));
});

test('proxy-status cells: not yet ACKed, in flight, not asked for; several streams: the newest counts', () => {
  const gateway = nackProxies[0];
  const cds = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
  const rds = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
  const t = { typeUrl: cds, wildcard: true, subscribed: 0, acked: 0, ackedVersion: '', rejected: [] };
  const p: SyncStatus = {
    ...gateway,
    nacks: [],
    streams: [
      { id: '1', service: 'ads', protocol: 'sotw', openedAt: '2026-01-01T00:00:00.000Z', types: [{ ...t, acked: 3, ackedVersion: 'old' }] },
      { id: '2', service: 'ads', protocol: 'delta', openedAt: '2026-01-01T00:01:00.000Z', types: [{ ...t, inflightNonce: '7' }] },
    ],
  };
  expect(typeCell(p, cds)).toBe('NOT ACKED + sending');
  expect(typeCell(p, rds)).toBe('-');
  expect(typeCell({ ...p, streams: [p.streams[0]] }, cds)).toBe('old (3)');
  expect(rows(proxyStatusTable([p]))[1]).toEqual([`${GATEWAY}.chart-manual`, 'router', 'envoy/1.36.4', 'NOT ACKED + sending', '-', '-', '-', '-']);
  expect(proxyStatusTable([])).toBe('No proxy is connected to the control plane.\n');
});

test('proxy-config clusters: Istio cluster names split into service, port, subset, direction; sorted, ports as numbers', async () => {
  requests.length = 0;
  const r = await ctl('proxy-config', 'clusters', SIDECAR, '-n', 'chart-rec');
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(requests).toEqual(['/debug/syncz', `/debug/config_dump?proxy=${encodeURIComponent(SIDECAR_ID)}`]);
  const table = rows(r.stdout);
  expect(table[0]).toEqual(['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'LB', 'TLS']);
  expect(table).toHaveLength(1 + 15);
  expect(table).toContainEqual(['kubernetes.default.svc.cluster.local', '443', '-', 'outbound', 'EDS', 'LEAST_REQUEST', '-']);
  expect(table).toContainEqual(['PassthroughCluster', '-', '-', '-', 'ORIGINAL_DST', 'CLUSTER_PROVIDED', '-']);
  expect(table.filter((c) => c[0] === 'trellis.chart-rec.svc.cluster.local').map((c) => c[1])).toEqual(['443', '15010', '15012', '15014']);
});

test('proxy-config listeners: address, port, filter chains and where each sends traffic', async () => {
  const r = await ctl('proxy-config', 'listeners', `${SIDECAR}.chart-rec`);
  expect(r.code).toBe(0);
  const table = rows(r.stdout);
  expect(table[0]).toEqual(['NAME', 'ADDRESS', 'PORT', 'CHAINS', 'DESTINATION']);
  expect(table).toHaveLength(1 + 8);
  expect(table).toContainEqual(['0.0.0.0_80', '0.0.0.0', '80', '1', 'Route: 80']);
  expect(table).toContainEqual(['virtualOutbound', '0.0.0.0', '15001 (original dst)', '1', 'Cluster: PassthroughCluster']);
  expect(table).toContainEqual(['virtualInbound', '0.0.0.0', '15006', '1', 'Cluster: InboundPassthroughCluster']);
  expect(table.find((c) => c[0] === '0.0.0.0_443')?.[4]).toMatch(/^Cluster: outbound\|443\|\|kubernetes\.default\.svc\.cluster\.local; /);
});

test('proxy-config routes: one row per route, in match order within a route table, with domains and destination', async () => {
  const r = await ctl('proxy-config', 'routes', SIDECAR_ID);
  expect(r.code).toBe(0);
  const table = rows(r.stdout);
  expect(table[0]).toEqual(['NAME', 'VIRTUAL HOST', 'DOMAINS', 'MATCH', 'DESTINATION']);
  expect(table.slice(1).map((c) => c[0])).toEqual(['80', '80', '15010', '15010', '15010', '15014', '15014', '15014']);
  expect(table.slice(1, 3)).toEqual([
    ['80', 'trellis-ingressgateway.chart-rec.svc.cluster.local:80', 'trellis-ingressgateway.chart-rec.svc.cluster.local +9 more', 'prefix /', 'outbound|80||trellis-ingressgateway.chart-rec.svc.cluster.local'],
    ['80', 'allow_any', '*', 'prefix /', 'PassthroughCluster'],
  ]);
});

test('proxy-config endpoints: address, health, weight, locality, per cluster', async () => {
  const r = await ctl('proxy-config', 'endpoints', SIDECAR, '-n', 'chart-rec');
  expect(r.code).toBe(0);
  const table = rows(r.stdout);
  expect(table[0]).toEqual(['ENDPOINT', 'STATUS', 'WEIGHT', 'LOCALITY', 'CLUSTER']);
  expect(table).toHaveLength(1 + 12);
  expect(table[1]).toEqual(['10.244.0.3:8080', 'UNKNOWN', '1', '-', 'outbound|80||trellis-ingressgateway.chart-rec.svc.cluster.local']);
  expect(table).toContainEqual(['10.243.0.1:6443', 'UNKNOWN', '1', '-', 'outbound|443||kubernetes.default.svc.cluster.local']);
});

test('proxy-config -o json prints the raw resources of the kind', async () => {
  const r = await ctl('proxy-config', 'routes', SIDECAR, '-n', 'chart-rec', '-o', 'json');
  expect(r.code).toBe(0);
  const recorded = JSON.parse(RECORDED.trellis.dump) as { resources: { rds: Record<string, unknown> } };
  expect(JSON.parse(r.stdout)).toEqual(Object.values(recorded.resources.rds));
});

test("proxy-config reads an Envoy admin /config_dump the same way (the dynamic resources: what xDS sent)", async () => {
  serving = { ...RECORDED.envoy };
  const clusters = rows((await ctl('proxy-config', 'clusters', GATEWAY, '-n', 'chart-manual')).stdout);
  expect(clusters).toHaveLength(1 + 14); // Envoy's static xds-grpc cluster is not Trellis's
  expect(clusters).toContainEqual(['-', '8080', '-', 'inbound', 'STATIC', 'ROUND_ROBIN', '-']);
  const listeners = rows((await ctl('proxy-config', 'listeners', GATEWAY, '-n', 'chart-manual')).stdout);
  expect(listeners).toContainEqual(['virtualOutbound', '0.0.0.0', '15001 (original dst)', '1', 'Cluster: PassthroughCluster']);
  const endpoints = rows((await ctl('proxy-config', 'endpoints', GATEWAY, '-n', 'chart-manual')).stdout);
  expect(endpoints).toContainEqual(['10.243.0.1:6443', 'HEALTHY', '1', '-', 'outbound|443||kubernetes.default.svc.cluster.local']);
});

test('proxy-config names what is wrong: an unknown pod (listing the connected ones), a bad kind, no pod, a bad -o', async () => {
  const missing = await ctl('proxy-config', 'routes', 'ratings-v1', '-n', 'bookinfo');
  expect(missing.code).toBe(1);
  expect(missing.stderr).toBe(
    `trellisctl: no proxy of pod ratings-v1 in namespace bookinfo is connected to the control plane; connected: ${SIDECAR}.chart-rec, trellis-ingressgateway-5f4549784-xjgxq.chart-rec\n`,
  );
  const kind = await ctl('proxy-config', 'certificates', SIDECAR);
  expect(kind.code).toBe(2);
  expect(kind.stderr).toContain('proxy-config: want a kind (clusters, listeners, routes, endpoints, secrets, authorization), got "certificates"');
  const noPod = await ctl('proxy-config', 'routes');
  expect(noPod.code).toBe(2);
  expect(noPod.stderr).toContain('proxy-config routes: name the pod');
  const output = await ctl('proxy-status', '-o', 'yaml');
  expect(output.code).toBe(2);
  expect(output.stderr).toContain('-o: want table or json, got "yaml"');
});

test('a control plane without /debug/config_dump, one that lost the proxy, and one out of reach are reported as such', async () => {
  serving = { syncz: RECORDED.trellis.syncz, dump: undefined };
  const old = await ctl('proxy-config', 'clusters', SIDECAR, '-n', 'chart-rec');
  expect(old.code).toBe(1);
  expect(old.stderr).toBe(`trellisctl: the control plane at ${url} does not serve /debug/config_dump (a proxy's configuration): it is older than this trellisctl, or it is not Trellis\n`);
  // Listed by /debug/syncz, gone by the time /debug/config_dump is asked.
  serving = { syncz: RECORDED.trellis.syncz, dump: RECORDED.trellis.dump };
  const gone = JSON.parse(RECORDED.trellis.syncz) as SyncStatus[];
  gone[0] = { ...gone[0], id: 'sidecar~10.244.0.98~gone-0.chart-rec~chart-rec.svc.cluster.local', info: { ...gone[0].info, podName: 'gone-0' } };
  serving.syncz = JSON.stringify(gone);
  const lost = await ctl('proxy-config', 'clusters', 'gone-0.chart-rec');
  serving.syncz = RECORDED.trellis.syncz;
  expect(lost.code).toBe(1);
  expect(lost.stderr).toBe(`trellisctl: ${url}/debug/config_dump: no connected proxy "sidecar~10.244.0.98~gone-0.chart-rec~chart-rec.svc.cluster.local"\n`);
  const down = await run(process.execPath, [cli, 'proxy-status', '--control-plane', 'http://127.0.0.1:9']);
  expect(down.code).toBe(1);
  expect(down.stderr).toMatch(/^trellisctl: cannot reach the control plane at http:\/\/127\.0\.0\.1:9\/debug\/syncz: .+\n {2}pass --control-plane http:\/\/HOST:15014/);
  const bad = await run(process.execPath, [cli, 'proxy-status', '--control-plane', 'not a url']);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain('--control-plane: want a URL such as http://127.0.0.1:15014, got "not a url"');
});

test('findProxy: pod and namespace, pod.namespace, or the node id', () => {
  const proxies = JSON.parse(RECORDED.trellis.syncz) as SyncStatus[];
  const sidecar = proxies.find((p) => p.id === SIDECAR_ID);
  expect(findProxy(proxies, SIDECAR, 'chart-rec')).toBe(sidecar);
  expect(findProxy(proxies, `${SIDECAR}.chart-rec`, undefined)).toBe(sidecar);
  expect(findProxy(proxies, SIDECAR_ID, undefined)).toBe(sidecar);
  expect(() => findProxy([], 'x', undefined)).toThrow('no proxy of pod x in namespace default is connected to the control plane; no proxy is connected');
});

test('several control planes (replicas): proxy-status lists the proxies of all, with where each is connected; proxy-config asks the right one', async () => {
  const seen: string[] = [];
  const replica = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    if (p === '/debug/syncz') return void res.writeHead(200, { 'content-type': 'application/json' }).end(RECORDED.envoy.syncz);
    if (p === '/debug/config_dump') return void res.writeHead(200, { 'content-type': 'application/json' }).end(RECORDED.envoy.dump);
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve) => replica.listen(0, '127.0.0.1', resolve));
  const other = `http://127.0.0.1:${(replica.address() as AddressInfo).port}`;
  try {
    const both = ['--control-plane', url, '--control-plane', other];
    const status = await run(process.execPath, [cli, 'proxy-status', ...both]);
    expect(status.code).toBe(0);
    const table = rows(status.stdout);
    expect(table[0]).toEqual(['NAME', 'TYPE', 'AGENT', 'CDS', 'LDS', 'EDS', 'RDS', 'CONTROL PLANE', 'LAST NACK']);
    expect(table.map((c) => [c[0], c[7]])).toEqual([
      ['NAME', 'CONTROL PLANE'],
      [`${SIDECAR}.chart-rec`, new URL(url).host],
      ['trellis-ingressgateway-5f4549784-xjgxq.chart-rec', new URL(url).host],
      [`${GATEWAY}.chart-manual`, new URL(other).host],
    ]);
    const json = JSON.parse((await run(process.execPath, [cli, 'proxy-status', ...both, '-o', 'json'])).stdout) as Record<string, unknown[]>;
    expect(Object.keys(json)).toEqual([url, other]);
    seen.length = 0;
    requests.length = 0;
    const config = await run(process.execPath, [cli, 'proxy-config', 'clusters', GATEWAY, '-n', 'chart-manual', ...both]);
    expect(config.code).toBe(0);
    expect(seen).toEqual(['/debug/syncz', `/debug/config_dump?proxy=${encodeURIComponent(nackProxies[0].id)}`]);
    expect(requests).toEqual(['/debug/syncz']);
    // The environment variable takes a comma-separated list too.
    const env = await run(process.execPath, [cli, 'proxy-status'], { env: { ...process.env, TRELLIS_CONTROL_PLANE: `${url},${other}` } });
    expect(rows(env.stdout)).toHaveLength(4);
  } finally {
    await new Promise<void>((resolve) => replica.close(() => resolve()));
  }
});
