// Metrics a user can graph, with two real Envoys and real traffic on loopback: each started from
// the production bootstrap (src/sidecar/bootstrap.ts: its stats tags, matcher and buckets, its
// Prometheus listener) for a pod of its own — productpage-v1 (the client) and reviews-v1 (the
// server) — configured over ADS from one mesh where a VirtualService sends reviews traffic to
// subset v1. The client's outbound listener and the server's inbound chain are bound on loopback
// ports (stand-ins for what iptables captures), the client's endpoint for reviews is the server's
// inbound chain, and behind it the app answers 503 on /fail. After 20 requests, 5 of them
// failing, the test scrapes each pod's Envoy as Prometheus does through the agent (its Prometheus
// listener; the agent's merge of it with the app's own metrics is proven with the real agent in
// agent-process.test.ts) and checks the counts per destination and per code exactly, with the
// labels README.md documents. As in
// Istio, the client retries a 503 twice (the default retry policy), so the server answers 15
// failed attempts while the client counts 5 failed requests: the same split as Istio's
// istio_requests_total with reporter="source" and reporter="destination".
import { jest } from '@jest/globals';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Mesh } from '../../src/model/mesh.js';
import { bootstrap as sidecarBootstrap } from '../../src/sidecar/bootstrap.js';
import { DURATION_BUCKETS_MS } from '../../src/sidecar/stats-config.js';
import type { SdsServer } from '../support/sds/sds-server.js';
import { inboundClusterName } from '../../src/translate/names.js';
import { MeshSnapshotProvider } from '../../src/translate/provider.js';
import { setLogLevel } from '../../src/util/logger.js';
import type { SnapshotProvider } from '../../src/xds/snapshot.js';
import { XdsServer } from '../../src/xds/server.js';
import { TypeUrl, type Listener } from '../../src/xds/types.js';
import { Envoy, freePort, startTestAgent, waitFor } from '../support/envoy.js';
import { withInboundChainOnLoopback } from '../support/inbound-chain.js';
import { dashboardQueries, readDashboard, readPromql } from '../support/grafana-dashboard.js';
import { buildSources, config } from '../support/mesh-fixtures.js';
import { parsePrometheus, type Sample } from '../support/prometheus.js';

jest.setTimeout(180_000);
beforeAll(() => setLogLevel(process.env.TRELLIS_LOG_LEVEL ?? 'error'));

const NS = 'default';
const HOST = `reviews.${NS}.svc.cluster.local`;
const CLIENT = { podName: 'productpage-v1-6d5f8c7b9-x2x4z', ip: '10.0.0.1', labels: { app: 'productpage', version: 'v1', 'pod-template-hash': '6d5f8c7b9' } };
const SERVER = { podName: 'reviews-v1-5d8f9c7b4-abcde', ip: '127.0.0.1', labels: { app: 'reviews', version: 'v1', 'pod-template-hash': '5d8f9c7b4' } };

interface Pod {
  envoy: Envoy;
  sds: SdsServer;
  /** Envoy's Prometheus listener (what the agent's status port serves, merged). */
  statsPort: number;
}

let app: http.Server;
let appPort: number;
let server: XdsServer;
let clientTestPort: number;
let serverTestPort: number;
let client: Pod;
let reviews: Pod;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-metrics-'));

function mesh(): Mesh {
  const { store, registry } = buildSources(
    [{ namespace: NS, name: 'reviews', clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 9080, targetPort: appPort }], endpoints: [{ address: SERVER.ip, labels: SERVER.labels, ports: { http: serverTestPort } }] }],
    [
      config('DestinationRule', NS, 'reviews', { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }] }),
      config('VirtualService', NS, 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] }),
    ],
  );
  return new Mesh(store, registry);
}

/** The client's outbound listener for port 9080, bound on a loopback port (the client's only). */
function withClientListener(sidecars: SnapshotProvider): SnapshotProvider {
  return {
    snapshot: async (proxy, types) => {
      const s = await sidecars.snapshot(proxy, types);
      const listeners = s[TypeUrl.Listener];
      const port9080 = listeners?.get('0.0.0.0_9080');
      if (!listeners || !port9080 || proxy.labels.app !== CLIENT.labels.app) return s;
      const test: Listener = { ...port9080, name: 'test_9080', address: { socket_address: { address: '127.0.0.1', port_value: clientTestPort } }, bind_to_port: undefined };
      return { ...s, [TypeUrl.Listener]: new Map([...listeners, ['test_9080', test]]) };
    },
  };
}

/** A pod's sidecar as the agent runs it: the production bootstrap and SDS. */
async function startPod(who: typeof CLIENT, xdsPort: number): Promise<Pod> {
  const socket = path.join(dir, `${who.labels.app}.sock`);
  const sds = await startTestAgent(socket, { namespace: NS, serviceAccount: 'default' });
  const statsPort = await freePort();
  const config = sidecarBootstrap({
    kind: 'sidecar',
    podName: who.podName,
    namespace: NS,
    podIp: who.ip,
    labels: who.labels,
    discoveryAddress: `127.0.0.1:${xdsPort}`,
    clusterDomain: 'cluster.local',
    adminPort: await freePort(),
    statsPort,
    readinessPort: await freePort(),
    adsApi: 'GRPC',
    sdsSocket: socket,
  });
  const envoy = await Envoy.start(config);
  return { envoy, sds, statsPort };
}

async function stopPod(p: Pod | undefined): Promise<void> {
  if (!p) return;
  await p.envoy.stop();
  await p.sds.close();
}

function get(urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: clientTestPort, path: urlPath, agent: false, timeout: 5000, headers: { host: 'reviews' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

/** Scrapes a pod's Envoy: GET <pod>:15090/stats/prometheus. */
async function scrape(p: Pod): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(`http://127.0.0.1:${p.statsPort}/stats/prometheus`);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, samples: parsePrometheus(text) };
}

/** The samples of `name` whose labels include `labels`. */
const select = (samples: Sample[], name: string, labels: Record<string, string>): Sample[] => samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
const sum = (samples: Sample[]): number => samples.reduce((a, s) => a + s.value, 0);

const CLIENT_ID = { workload: 'productpage-v1', workload_namespace: NS, canonical_service: 'productpage', canonical_revision: 'v1' };
const SERVER_ID = { workload: 'reviews-v1', workload_namespace: NS, canonical_service: 'reviews', canonical_revision: 'v1' };
const TO_REVIEWS = { direction: 'outbound', destination_service: HOST, destination_subset: 'v1', destination_port: '9080', cluster_name: `outbound|9080|v1|${HOST}`, ...CLIENT_ID };

beforeAll(async () => {
  app = http.createServer((req, res) => {
    res.writeHead(req.url?.startsWith('/fail') ? 503 : 200, { 'content-type': 'text/plain' }).end('reviews');
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  appPort = (app.address() as net.AddressInfo).port;
  clientTestPort = await freePort();
  serverTestPort = await freePort();
  const current = mesh();
  const sidecars = new MeshSnapshotProvider(() => current, { outboundPort: await freePort(), inboundPort: await freePort() });
  server = new XdsServer({ provider: withInboundChainOnLoopback(withClientListener(sidecars), inboundClusterName(appPort), serverTestPort) });
  const xdsPort = await server.listen('127.0.0.1:0');
  reviews = await startPod(SERVER, xdsPort);
  client = await startPod(CLIENT, xdsPort);
  // Ready without sending a request (every request counts): both loopback listeners active, the
  // client's reviews v1 cluster with its endpoint.
  const active = async (envoy: Envoy, name: string): Promise<boolean> => {
    const dump = (await envoy.configDump()).configs as Array<Record<string, unknown>>;
    const listeners = (dump.find((c) => String(c['@type']).endsWith('ListenersConfigDump'))?.dynamic_listeners ?? []) as Array<{ name: string; active_state?: unknown }>;
    return listeners.some((l) => l.name === name && l.active_state);
  };
  await reviews.envoy.eventually('the server inbound chain', () => active(reviews.envoy, 'test_inbound'));
  await client.envoy.eventually('the client listener', () => active(client.envoy, 'test_9080'));
  await client.envoy.eventually('the reviews v1 endpoint', async () => (await client.envoy.stat(`cluster.outbound|9080|v1|${HOST}.membership_healthy`)) === 1);

  // The known traffic: 20 requests, 5 of which the app fails.
  const codes: number[] = [];
  for (let i = 0; i < 20; i++) codes.push(await get(i % 4 === 0 ? `/fail-${i}` : `/ok-${i}`));
  expect(codes.filter((c) => c === 503)).toHaveLength(5);
  expect(codes.filter((c) => c === 200)).toHaveLength(15);
});

afterAll(async () => {
  await stopPod(client);
  await stopPod(reviews);
  await server?.close();
  await new Promise((r) => app?.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('client side: requests per destination service, subset and code, exactly', async () => {
  const { samples } = await scrape(client);
  expect(select(samples, 'envoy_cluster_upstream_rq', { ...TO_REVIEWS, response_code: '200' }).map((s) => s.value)).toEqual([15]);
  expect(select(samples, 'envoy_cluster_upstream_rq', { ...TO_REVIEWS, response_code: '503' }).map((s) => s.value)).toEqual([5]);
  // Per code, each request once, with its final response; _total counts attempts (5 failed
  // requests retried twice each), as upstream_rq_retry says.
  expect(select(samples, 'envoy_cluster_upstream_rq_total', TO_REVIEWS).map((s) => s.value)).toEqual([30]);
  expect(select(samples, 'envoy_cluster_upstream_rq_retry', TO_REVIEWS).map((s) => s.value)).toEqual([10]);
  expect(select(samples, 'envoy_cluster_upstream_rq_xx', { ...TO_REVIEWS, response_code_class: '5' }).map((s) => s.value)).toEqual([5]);
  // Summed over everything labelled with a destination: each request once (no per-origin copies).
  expect(sum(select(samples, 'envoy_cluster_upstream_rq', { destination_service: HOST }))).toBe(20);
  // The client's Envoy reports nothing inbound.
  expect(select(samples, 'envoy_cluster_upstream_rq', { direction: 'inbound' })).toEqual([]);
});

test("client side: the duration histogram per destination, in Istio's buckets", async () => {
  // Histograms reach the Prometheus output at Envoy's stats flush (every 5 s).
  const samples = await waitFor('the flushed histogram', async () => {
    const s = (await scrape(client)).samples;
    return select(s, 'envoy_cluster_upstream_rq_time_count', TO_REVIEWS)[0]?.value === 20 && s;
  }, 30_000, 500);
  const buckets = select(samples, 'envoy_cluster_upstream_rq_time_bucket', TO_REVIEWS);
  expect(buckets.map((b) => b.labels.le)).toEqual([...DURATION_BUCKETS_MS.map((b) => String(b)), '+Inf']);
  expect(buckets.at(-1)?.value).toBe(20);
});

test('server side: requests per inbound port and code, exactly, labelled with the server workload', async () => {
  const { samples } = await scrape(reviews);
  const inbound = { direction: 'inbound', destination_port: String(appPort), cluster_name: inboundClusterName(appPort), ...SERVER_ID };
  // Every attempt that reached the server: 15 successes, 5 failed requests × 3 attempts.
  expect(select(samples, 'envoy_cluster_upstream_rq', { ...inbound, response_code: '200' }).map((s) => s.value)).toEqual([15]);
  expect(select(samples, 'envoy_cluster_upstream_rq', { ...inbound, response_code: '503' }).map((s) => s.value)).toEqual([15]);
  expect(select(samples, 'envoy_cluster_upstream_rq', inbound).every((s) => s.labels.destination_service === undefined)).toBe(true);
  // The connection manager sees every request, including ones Envoy answers itself (by class only).
  const hcm = { http_conn_manager_prefix: inboundClusterName(appPort), ...SERVER_ID };
  expect(select(samples, 'envoy_http_downstream_rq_xx', { ...hcm, response_code_class: '5' }).map((s) => s.value)).toEqual([15]);
  expect(select(samples, 'envoy_http_downstream_rq_xx', { ...hcm, response_code_class: '2' }).map((s) => s.value)).toEqual([15]);
});

test("every Envoy metric the chart's Grafana dashboard queries is in these scrapes, with every label it matches on", async () => {
  // Both pods' histograms are there after their Envoy's stats flush.
  const samples = await waitFor('both histograms flushed', async () => {
    const s = [...(await scrape(client)).samples, ...(await scrape(reviews)).samples];
    const histograms = s.filter((x) => x.name === 'envoy_cluster_upstream_rq_time_bucket').map((x) => x.labels.direction);
    return histograms.includes('outbound') && histograms.includes('inbound') && s;
  }, 30_000, 500);
  const labels = new Map<string, Set<string>>();
  for (const s of samples) labels.set(s.name, new Set([...(labels.get(s.name) ?? []), ...Object.keys(s.labels)]));
  const problems: string[] = [];
  for (const q of dashboardQueries(readDashboard())) {
    for (const sel of readPromql(q.expr).selectors.filter((x) => x.metric.startsWith('envoy_'))) {
      const have = labels.get(sel.metric);
      if (!have) problems.push(`${q.where}: ${sel.metric} is not in the scrape`);
      else for (const l of sel.labels.filter((x) => !have.has(x))) problems.push(`${q.where}: ${sel.metric} has no label ${l} in the scrape`);
    }
  }
  expect(problems).toEqual([]);
});
