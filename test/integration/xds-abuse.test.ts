// The attacks the xDS hardening stops, against the real control plane process and the real API
// server (TokenReview of real tokens), each asserted as the refusal the attacker sees, while a
// well-behaved proxy on the same control plane keeps receiving its pushes, and the control
// plane's memory stays bounded (under a quarter of the chart's limit):
//  - squatting: a stream of another namespace or service account cannot take a victim's node id,
//    before or after the victim connects; a newer stream of the victim's own identity replaces
//    the older one, and the victim reconnecting gets its own configuration back;
//  - exhaustion: a 60 MiB request, a NACK with a huge error, 1,000 streams, 100,000 subscribed
//    names and a request flood are each refused, truncated or limited.
import fs from 'node:fs';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { AdsClient } from '../support/ads-client.js';
import { TypeUrl } from '../../src/xds/types.js';
import { clusterAvailable, kube, testNamespace, waitFor } from '../support/cluster.js';
import { startControlPlane, type RunningControlPlane } from '../support/control-plane.js';
import { createServiceAccount, heldPod, serviceAccountToken } from '../support/tokens.js';

const ns = testNamespace('xds-abuse');
const evil = testNamespace('xds-abuse-evil');
const { core } = kube();
/** A quarter of the chart's memory limit for the control plane (2Gi, charts/trellis/values.yaml). */
const MEMORY_BOUND = 512 * 1024 * 1024;
/** Set low for this test so that 1,000 streams cross it (the default is 1,000). */
const STREAMS_PER_IDENTITY = 100;
let cp: RunningControlPlane;
let rootCa = '';
const tokens: Record<string, string> = {};
let good: AdsClient;
let probes = 0;

function node(pod: string, namespace = ns, labels: Record<string, string> = { app: pod }, metaNamespace = namespace): object {
  const l = { fields: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, { stringValue: v }])) };
  return { id: `sidecar~10.244.9.${pod.length}~${pod}.${namespace}~${namespace}.svc.cluster.local`, metadata: { fields: { NAMESPACE: { stringValue: metaNamespace }, LABELS: { structValue: l } } } };
}

function client(nodeObj: object, token: string, opts: { connection?: string; manual?: boolean } = {}): AdsClient {
  return new AdsClient(cp.xdsTlsAddress, {
    node: nodeObj as never,
    tls: { rootCa, serverName: `trellis.${ns}.svc` },
    token,
    manual: opts.manual,
    // Clients with the same options share one connection; a distinct value gives a connection of its own.
    channelOptions: { 'trellis.test.connection': opts.connection ?? 'shared' },
  });
}

/** The error a stream ended with, once it has ended (or "" if it is still open after `ms`). */
async function endedWith(c: AdsClient, ms = 20_000): Promise<string> {
  await c.until('the stream to end', () => c.error !== undefined, ms).catch(() => undefined);
  return c.error?.message ?? '';
}

/** A new Service reaches the well-behaved proxy: its pushes still flow. */
async function pushReachesGoodProxy(): Promise<void> {
  const name = `probe-${++probes}`;
  await core.createNamespacedService({ namespace: ns, body: { metadata: { name }, spec: { ports: [{ name: 'http', port: 80 }] } } });
  const cluster = `outbound|80||${name}.${ns}.svc.cluster.local`;
  await good.until(`the push of Service ${name} to the well-behaved proxy`, () => good.names(TypeUrl.Cluster).includes(cluster), 30_000);
  expect(good.error).toBeUndefined();
}

function memory(): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${cp.proc.pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespace({ body: { metadata: { name: evil } } });
  cp = await startControlPlane({ namespace: ns, validatingConfig: `trellis-validator-${ns}`, extraArgs: ['--xds-max-streams-per-identity', String(STREAMS_PER_IDENTITY)] });
  for (const sa of ['good', 'victim', 'attacker']) await createServiceAccount(ns, sa);
  await createServiceAccount(evil, 'attacker');
  for (const sa of ['good', 'victim', 'attacker']) tokens[sa] = await serviceAccountToken(ns, sa, { audiences: ['istio-ca'], expirationSeconds: 3600 });
  tokens.evil = await serviceAccountToken(evil, 'attacker', { audiences: ['istio-ca'], expirationSeconds: 3600 });
  const secret = await core.readNamespacedSecret({ namespace: ns, name: 'istio-ca-secret' });
  rootCa = Buffer.from(secret.data?.['ca-cert.pem'] ?? '', 'base64').toString();
  good = client(node('good-0'), tokens.good, { connection: 'good' });
  good.subscribe(TypeUrl.Cluster, []);
  good.subscribe(TypeUrl.Listener, []);
  await good.until('the first configuration of the well-behaved proxy', () => good.names(TypeUrl.Cluster).length > 0, 30_000);
});

afterAll(async () => {
  good?.close();
  if (cp) await cp.stop();
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
  await core.deleteNamespace({ name: evil }).catch(() => undefined);
});

afterEach(() => {
  // Whatever the attack, the control plane's peak stayed well under the memory the chart gives it.
  expect(memory().peak).toBeLessThan(MEMORY_BOUND);
});

describe('squatting a node id', () => {
  const VICTIM_LABELS = { app: 'victim', tier: 'gold' };
  /** What only a proxy with the victim's labels gets: the inbound cluster of the Service selecting them. */
  const INBOUND = 'inbound|9080||';
  let victimPod: { name: string; uid: string };

  beforeAll(async () => {
    victimPod = await heldPod(ns, 'victim-0', 'victim');
    await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'victim' }, spec: { selector: { app: 'victim' }, ports: [{ name: 'http', port: 9080 }] } } });
  });

  test("another namespace's identity cannot take the victim's node id, whatever its metadata claims", async () => {
    const attacker = client(node(victimPod.name, ns, VICTIM_LABELS, evil), tokens.evil);
    attacker.subscribe(TypeUrl.Cluster, []);
    const error = await endedWith(attacker);
    attacker.close();
    expect(error).toContain(`${grpc.status.PERMISSION_DENIED} PERMISSION_DENIED`);
    expect(error).toContain(`names pod "victim-0" in namespace "${ns}"`);
    expect(attacker.received).toHaveLength(0);
  });

  test("another service account of the victim's namespace cannot take its node id before the victim connects, nor after", async () => {
    const before = client(node(victimPod.name, ns, { app: 'admin' }), tokens.attacker);
    before.subscribe(TypeUrl.Cluster, []);
    const error = await endedWith(before);
    before.close();
    expect(error).toContain(`${grpc.status.PERMISSION_DENIED} PERMISSION_DENIED`);
    expect(error).toContain('which runs as service account victim, not attacker');
    expect(before.received).toHaveLength(0);

    const victim = client(node(victimPod.name, ns, VICTIM_LABELS), tokens.victim, { connection: 'victim' });
    victim.subscribe(TypeUrl.Cluster, []);
    await victim.until("the victim's inbound cluster", () => victim.names(TypeUrl.Cluster).includes(INBOUND), 30_000);
    const after = client(node(victimPod.name, ns, { app: 'admin' }), tokens.attacker);
    after.subscribe(TypeUrl.Cluster, []);
    expect(await endedWith(after)).toContain('PERMISSION_DENIED');
    after.close();
    // The victim's stream was not touched and still gets its pushes.
    await new Promise((r) => setTimeout(r, 500));
    expect(victim.error).toBeUndefined();
    expect(victim.names(TypeUrl.Cluster)).toContain(INBOUND);
    victim.close();
  });

  test("a newer stream of the victim's own identity replaces the older one; the victim reconnecting gets its own configuration back", async () => {
    const victim = client(node(victimPod.name, ns, VICTIM_LABELS), tokens.victim, { connection: 'victim' });
    victim.subscribe(TypeUrl.Cluster, []);
    await victim.until("the victim's inbound cluster", () => victim.names(TypeUrl.Cluster).includes(INBOUND), 30_000);
    // Same identity, other labels (a process holding the victim's own token): the newer stream wins ...
    const impostor = client(node(victimPod.name, ns, { app: 'nobody' }), tokens.victim, { connection: 'impostor' });
    impostor.subscribe(TypeUrl.Cluster, []);
    await impostor.until('the newer stream to be served', () => impostor.names(TypeUrl.Cluster).length > 0, 30_000);
    expect(await endedWith(victim)).toContain(`${grpc.status.ABORTED} ABORTED`);
    // ... and it is computed from the newer stream's own node: no inbound cluster for the victim's Service.
    expect(impostor.names(TypeUrl.Cluster)).not.toContain(INBOUND);
    victim.close();
    // The victim reconnects: it is the newest, and it gets what its own node describes.
    const back = client(node(victimPod.name, ns, VICTIM_LABELS), tokens.victim, { connection: 'victim-2' });
    back.subscribe(TypeUrl.Cluster, []);
    await back.until("the victim's inbound cluster again", () => back.names(TypeUrl.Cluster).includes(INBOUND), 30_000);
    expect(await endedWith(impostor)).toContain('ABORTED');
    impostor.close();
    back.close();
  });
});

describe('exhaustion, each refused while the well-behaved proxy keeps its pushes', () => {
  test('a 60 MiB request ends that stream with RESOURCE_EXHAUSTED (4 MiB limit)', async () => {
    const attacker = client(node('big-0'), tokens.attacker, { connection: 'big' });
    attacker.send({ type_url: TypeUrl.Cluster, resource_names: ['x'.repeat(60 * 1024 * 1024)] });
    const [error] = await Promise.all([endedWith(attacker, 60_000), pushReachesGoodProxy()]);
    attacker.close();
    expect(error).toContain(`${grpc.status.RESOURCE_EXHAUSTED} RESOURCE_EXHAUSTED`);
    expect(attacker.received).toHaveLength(0);
  });

  test('a NACK with a 3 MiB error is kept, logged and shown cut to 4,096 characters', async () => {
    const attacker = client(node('nack-0'), tokens.attacker, { connection: 'nack', manual: true });
    attacker.subscribe(TypeUrl.Cluster, []);
    await attacker.until('a response to reject', () => attacker.received.length > 0, 30_000);
    attacker.nack(TypeUrl.Cluster, 'E'.repeat(3 * 1024 * 1024));
    const syncz = await waitFor('the NACK in /debug/syncz', async () => {
      const proxies = (await (await fetch(`${cp.monitoring}/debug/syncz`)).json()) as { id: string; nacks: { message: string }[] }[];
      return proxies.find((p) => p.id.includes('nack-0') && p.nacks.length > 0);
    }, 30_000);
    attacker.close();
    expect(syncz.nacks[0].message.length).toBeLessThan(4200);
    expect(syncz.nacks[0].message).toContain('more characters not kept');
    expect(cp.logs()).not.toContain('E'.repeat(5000));
    await pushReachesGoodProxy();
  });

  test(`1,000 streams of one identity over 20 connections: ${STREAMS_PER_IDENTITY} are served, the rest refused (RESOURCE_EXHAUSTED)`, async () => {
    const clients = Array.from({ length: 1000 }, (_, i) => client(node(`flood-${i}`), tokens.attacker, { connection: `flood-${i % 20}`, manual: true }));
    for (const c of clients) c.subscribe(TypeUrl.Cluster, []);
    await waitFor('every stream to be served or refused', async () => clients.every((c) => c.error !== undefined || c.received.length > 0), 120_000, 500);
    const served = clients.filter((c) => c.received.length > 0 && !c.error).length;
    const refused = clients.filter((c) => c.error?.message.includes('RESOURCE_EXHAUSTED'));
    expect(served).toBe(STREAMS_PER_IDENTITY);
    expect(refused).toHaveLength(1000 - STREAMS_PER_IDENTITY);
    expect(refused[0].error?.message).toContain(`already holds ${STREAMS_PER_IDENTITY} xDS streams`);
    await pushReachesGoodProxy();
    for (const c of clients) c.close();
    expect(await cp.metric('trellis_xds_limited_total')).toBeGreaterThanOrEqual(1000 - STREAMS_PER_IDENTITY);
  });

  test('the server allows 64 concurrent streams per connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS)', async () => {
    // A client needing more streams must open more connections, which the per-identity limit bounds.
    const session = http2.connect(`https://${cp.xdsTlsAddress}`, { ca: rootCa, servername: `trellis.${ns}.svc`, ALPNProtocols: ['h2'] });
    try {
      const settings = await new Promise<http2.Settings>((resolve, reject) => {
        session.once('remoteSettings', resolve);
        session.once('error', reject);
      });
      expect(settings.maxConcurrentStreams).toBe(64);
    } finally {
      session.close();
    }
  });

  test('100,000 subscribed names end the stream with RESOURCE_EXHAUSTED', async () => {
    const attacker = client(node('names-0'), tokens.attacker, { connection: 'names' });
    attacker.subscribe(TypeUrl.Endpoint, Array.from({ length: 100_000 }, (_, i) => `n${i}`));
    const [error] = await Promise.all([endedWith(attacker, 60_000), pushReachesGoodProxy()]);
    attacker.close();
    expect(error).toContain(`${grpc.status.RESOURCE_EXHAUSTED} RESOURCE_EXHAUSTED`);
    expect(error).toContain('subscribed to 100000 eds resources; at most 50000 per type');
  });

  test('a request flood ends the stream with RESOURCE_EXHAUSTED', async () => {
    const attacker = client(node('chatty-0'), tokens.attacker, { connection: 'chatty', manual: true });
    attacker.subscribe(TypeUrl.Cluster, []);
    for (let i = 0; i < 5000; i++) attacker.send({ type_url: TypeUrl.Cluster, resource_names: [], response_nonce: 'stale' });
    const [error] = await Promise.all([endedWith(attacker, 60_000), pushReachesGoodProxy()]);
    attacker.close();
    expect(error).toContain(`${grpc.status.RESOURCE_EXHAUSTED} RESOURCE_EXHAUSTED`);
    expect(error).toContain('requests per second');
  });
});
