// Zero trust on a real cluster: workload identities from the mesh CA, mutual TLS between
// sidecars with the client's SPIFFE ID forwarded to the app, PeerAuthentication (namespace,
// workload and port level), and the attacks the identity work stops, each asserted as a refusal:
// posing as another namespace's gateway over xDS, obtaining another service account's
// certificate, and reading the debug pages without authorisation.
import { setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import * as grpc from '@grpc/grpc-js';
import { requestCertificate } from '../../src/ca/certificate-client.js';
import { createCsr, spiffeId } from '../../src/ca/csr.js';
import { AdsClient } from '../support/ads-client.js';
import { TypeUrl } from '../../src/xds/types.js';
import { installTrellis } from '../support/install.js';
import { applyAll, applyIstioObject, clientPod, clusterAvailable, deleteIstioObject, echoDeployment, echoFrom, kube, testNamespace, waitFor, type EchoReply, fetchInPod } from '../support/cluster.js';
import { createServiceAccount, debugReaderToken, serviceAccountToken } from '../support/tokens.js';

const ns = testNamespace('sec');
const evil = `${ns}-evil`;
const { core } = kube();
const CP = 'trellis.trellis-system.svc';
let cpIp = '';
let rootCa = '';

const ready = (p: V1Pod): boolean => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const ok = (r: EchoReply[], n: number): boolean => r.length === n && r.every((x) => x.status === 200);

async function envoyStats(pod: string, filter: string): Promise<{ name: string; value?: number }[]> {
  return ((await fetchInPod(pod, `http://127.0.0.1:15000/stats?format=json&filter=${encodeURIComponent(filter)}`)).body as { stats: { name: string; value?: number }[] }).stats;
}

const peerAuthentication = (name: string, spec: Record<string, unknown>): Promise<void> => applyIstioObject(ns, 'PeerAuthentication', name, spec);
/** The status of one request from `pod` to the echo Service (undefined: the connection failed). */
const statusFrom = async (pod: string): Promise<number | undefined> => (await echoFrom(`${ns}/${pod}`, 'http://echo:8080/', 1))[0]?.status;

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await installTrellis();
  await core.createNamespace({ body: { metadata: { name: ns, labels: { 'trellis-injection': 'enabled' } } } });
  await core.createNamespace({ body: { metadata: { name: evil } } });
  await createServiceAccount(evil, 'attacker');
  await applyAll([
    echoDeployment(ns, 'echo', 1, { app: 'echo' }),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: ns }, spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }] } } as never,
    clientPod(ns),
    { ...clientPod(ns, 'plain'), metadata: { name: 'plain', namespace: ns, labels: { app: 'plain', 'sidecar.istio.io/inject': 'false' } } } as never,
  ]);
  await waitFor('the pods', async () => {
    const items = (await core.listNamespacedPod({ namespace: ns })).items;
    return items.length === 3 && items.every(ready);
  }, 180_000);
  cpIp = (await core.readNamespacedService({ namespace: 'trellis-system', name: 'trellis' })).spec?.clusterIP ?? '';
  rootCa = await waitFor('the published root', async () => (await core.readNamespacedConfigMap({ namespace: ns, name: 'istio-ca-root-cert' }).catch(() => undefined))?.data?.['root-cert.pem']);
});

afterAll(async () => {
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
  await core.deleteNamespace({ name: evil }).catch(() => undefined);
});

describe('mutual TLS between sidecars', () => {
  test("the server's app sees the client's SPIFFE ID; the client's Envoy made TLS handshakes to it", async () => {
    const replies = await waitFor('meshed traffic', async () => {
      const r = await echoFrom(`${ns}/client`, 'http://echo:8080/', 5);
      return ok(r, 5) ? r : undefined;
    }, 60_000);
    const xfcc = replies[0].body?.headers?.['x-forwarded-client-cert'] ?? '';
    expect(xfcc).toContain(`URI=spiffe://cluster.local/ns/${ns}/sa/default`);
    expect(xfcc).toContain(`By=spiffe://cluster.local/ns/${ns}/sa/default`);
    const handshakes = (await envoyStats(`${ns}/client`, 'ssl.handshake')).filter((s) => s.name === `cluster.outbound|8080||echo.${ns}.svc.cluster.local.ssl.handshake`);
    expect(handshakes[0]?.value ?? 0).toBeGreaterThan(0);
  });

  test('a pod without a sidecar is served plaintext (PERMISSIVE by default), and cannot forge the client identity header', async () => {
    const [r] = await echoFrom(`${ns}/plain`, 'http://echo:8080/', 1, ['x-forwarded-client-cert: URI=spiffe://cluster.local/ns/trellis-system/sa/trellis']);
    expect(r.status).toBe(200);
    expect(r.body?.headers?.['x-forwarded-client-cert']).toBeUndefined();
  });
});

describe('PeerAuthentication', () => {
  afterAll(async () => {
    await deleteIstioObject(ns, 'PeerAuthentication', 'default');
    await deleteIstioObject(ns, 'PeerAuthentication', 'echo');
    await deleteIstioObject(ns, 'DestinationRule', 'echo');
  });

  test('namespace STRICT refuses the pod without a sidecar and still serves the meshed client', async () => {
    await peerAuthentication('default', { mtls: { mode: 'STRICT' } });
    await waitFor('STRICT to refuse plaintext', async () => (await statusFrom('plain')) === undefined, 30_000);
    expect(ok(await echoFrom(`${ns}/client`, 'http://echo:8080/', 5), 5)).toBe(true);
  });

  test('a workload policy overrides the namespace: PERMISSIVE for app=echo serves the plain pod again', async () => {
    await peerAuthentication('echo', { selector: { matchLabels: { app: 'echo' } }, mtls: { mode: 'PERMISSIVE' } });
    await waitFor('PERMISSIVE for the workload', async () => (await statusFrom('plain')) === 200, 30_000);
  });

  test('a port-level STRICT overrides the workload PERMISSIVE on that port only', async () => {
    await peerAuthentication('echo', { selector: { matchLabels: { app: 'echo' } }, mtls: { mode: 'PERMISSIVE' }, portLevelMtls: { 8080: { mode: 'STRICT' } } });
    await waitFor('STRICT on 8080', async () => (await statusFrom('plain')) === undefined, 30_000);
    expect(ok(await echoFrom(`${ns}/client`, 'http://echo:8080/', 3), 3)).toBe(true);
  });

  test('DestinationRule DISABLE sends plaintext (refused by STRICT); ISTIO_MUTUAL sends mTLS', async () => {
    await applyIstioObject(ns, 'DestinationRule', 'echo', { host: 'echo', trafficPolicy: { tls: { mode: 'DISABLE' } } });
    await waitFor('DISABLE to reach the client', async () => (await statusFrom('client')) === 503, 30_000);
    await applyIstioObject(ns, 'DestinationRule', 'echo', { host: 'echo', trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } });
    await waitFor('ISTIO_MUTUAL', async () => ok(await echoFrom(`${ns}/client`, 'http://echo:8080/', 3), 3), 30_000);
  });
});

describe('attacks, each refused', () => {
  /** What an xDS client posing as the chart's ingress gateway gets: its error and what it received. */
  async function poseAsGateway(target: string, opts: { tls?: boolean; token?: string }): Promise<{ error: string; received: number }> {
    const labels = { fields: { istio: { stringValue: 'ingressgateway' }, app: { stringValue: 'trellis-ingressgateway' } } };
    const client = new AdsClient(target, {
      node: { id: 'router~10.244.0.77~trellis-ingressgateway-x.trellis-system~trellis-system.svc.cluster.local', metadata: { fields: { NAMESPACE: { stringValue: 'trellis-system' }, LABELS: { structValue: labels } } } },
      ...(opts.tls ? { tls: { rootCa, serverName: CP } } : {}),
      ...(opts.token ? { token: opts.token } : {}),
    });
    try {
      client.subscribe(TypeUrl.Cluster, []);
      client.subscribe(TypeUrl.Listener, []);
      client.subscribe(TypeUrl.Secret, ['kubernetes://trellis-ingressgateway-credential']);
      await client.until('the stream to end', () => client.error !== undefined, 20_000).catch(() => undefined);
      return { error: client.error?.message ?? '', received: client.received.length };
    } finally {
      client.close();
    }
  }

  test('without credentials: the plaintext port is closed, and the TLS port refuses the stream (UNAUTHENTICATED)', async () => {
    const plain = await poseAsGateway(`${cpIp}:15010`, {});
    expect(plain.received).toBe(0);
    expect(plain.error).toMatch(/UNAVAILABLE|ECONNREFUSED/);
    const tls = await poseAsGateway(`${cpIp}:15012`, { tls: true });
    expect(tls.received).toBe(0);
    expect(tls.error).toContain(`${grpc.status.UNAUTHENTICATED} UNAUTHENTICATED`);
  });

  test("with another namespace's token: posing as the gateway of trellis-system is refused (PERMISSION_DENIED), nothing sent", async () => {
    const token = await serviceAccountToken(evil, 'attacker', { audiences: ['istio-ca'] });
    const r = await poseAsGateway(`${cpIp}:15012`, { tls: true, token });
    expect(r.received).toBe(0);
    expect(r.error).toContain(`${grpc.status.PERMISSION_DENIED} PERMISSION_DENIED`);
    expect(r.error).toContain(`authenticated as service account ${evil}/attacker`);
  });

  test("a service account's token obtains its own certificate, never another's", async () => {
    const token = await serviceAccountToken(evil, 'attacker', { audiences: ['istio-ca'] });
    const ask = (serviceAccount: string, namespace: string) =>
      requestCertificate({ address: `${cpIp}:15012`, rootCaPem: rootCa, serverName: CP, token, csrPem: createCsr(spiffeId({ trustDomain: 'cluster.local', namespace, serviceAccount })).csrPem, ttlSeconds: 3600 });
    const own = await ask('attacker', evil);
    expect(own.length).toBeGreaterThanOrEqual(2);
    await expect(ask('default', ns)).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    await expect(ask('trellis-ingressgateway', 'trellis-system')).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  });

  test('the debug pages answer only an authorised token (401 without, 403 with a token that may not), and never show a private key', async () => {
    const url = (p: string) => `http://${cpIp}:15014/debug/${p}`;
    for (const page of ['configz', 'syncz', 'registryz', 'config_dump?proxy=client.' + ns]) {
      const anon = await fetch(url(page));
      expect([page, anon.status]).toEqual([page, 401]);
      expect(await anon.text()).not.toContain(ns);
    }
    const attacker = await serviceAccountToken(evil, 'attacker');
    const denied = await fetch(url('syncz'), { headers: { authorization: `Bearer ${attacker}` } });
    expect(denied.status).toBe(403);
    expect(await denied.text()).toContain(`system:serviceaccount:${evil}:attacker may not get services/proxy`);
    const reader = await debugReaderToken(ns);
    const allowed = await waitFor('the debug page', async () => {
      const res = await fetch(url('syncz'), { headers: { authorization: `Bearer ${reader}` } });
      return res.status === 200 ? res : undefined;
    }, 30_000);
    expect(await allowed.text()).toContain(`client.${ns}`);
    const dump = await fetch(url(`config_dump?proxy=client.${ns}`), { headers: { authorization: `Bearer ${reader}` } });
    expect(dump.status).toBe(200);
    expect(await dump.text()).not.toContain('PRIVATE KEY');
    // The open pages stay open.
    expect((await fetch(`http://${cpIp}:15014/ready`)).status).toBe(200);
  });
});

describe('under continuous traffic', () => {
  /**
   * Sends requests from the client until `stop` resolves; every reply (or failure) is kept. A
   * request may wait up to `timeout` for its answer: what is asserted is that none fails (an
   * error, a reset, a 5xx or no answer at all), not how fast the answers come while a control
   * plane restarts on 2 shared vCPUs.
   */
  async function trafficUntil(stop: Promise<unknown>, timeout = '5s'): Promise<EchoReply[]> {
    let done = false;
    void stop.finally(() => (done = true));
    const replies: EchoReply[] = [];
    while (!done) replies.push(...(await echoFrom(`${ns}/client`, 'http://echo:8080/', 10, [], ['--timeout', timeout])));
    return replies;
  }

  /** The serial of the workload certificate an Envoy presents (its admin /certs). */
  async function presentedSerial(pod: string): Promise<string> {
    const certs = ((await fetchInPod(pod, 'http://127.0.0.1:15000/certs')).body as { certificates: { cert_chain?: { serial_number: string; subject_alt_names?: { uri?: string }[] }[] }[] }).certificates;
    const mine = certs.flatMap((c) => c.cert_chain ?? []).find((c) => c.subject_alt_names?.some((s) => s.uri?.startsWith('spiffe://')));
    if (!mine) throw new Error(`no workload certificate in ${pod}'s Envoy`);
    return mine.serial_number;
  }

  test('workload certificates renew at half their lifetime (60 s here) with zero failed requests', async () => {
    // A server whose certificate lives 60 s: renewed about every 30 s.
    const patch = [{ op: 'add', path: '/spec/template/metadata/annotations', value: { 'sidecar.trellis.io/workloadCertTTL': '60s' } }];
    await kube().apps.patchNamespacedDeployment({ namespace: ns, name: 'echo', body: patch }, (await import('@kubernetes/client-node')).setHeaderOptions('Content-Type', 'application/json-patch+json'));
    const pod = await waitFor('the short-lived server', async () => {
      const items = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=echo' })).items;
      const fresh = items.filter((p) => p.metadata?.annotations?.['sidecar.trellis.io/workloadCertTTL'] === '60s' && ready(p));
      return items.length === 1 && fresh.length === 1 ? fresh[0] : undefined;
    }, 120_000);
    const name = `${ns}/${pod.metadata?.name}`;
    const first = await waitFor('a certificate in Envoy', () => presentedSerial(name), 30_000);
    const renewed = waitFor('a renewed certificate', async () => ((await presentedSerial(name)) !== first ? true : undefined), 90_000, 2000);
    const replies = await trafficUntil(renewed);
    await renewed;
    expect(replies.length).toBeGreaterThan(20);
    expect(replies.filter((r) => r.status !== 200)).toEqual([]);
  });

  test('a control plane restart under traffic, its namespace labelled for injection: zero failed requests, no sidecar in it, and the proxies reconnect', async () => {
    const { apps } = kube();
    const before = (await core.listNamespacedPod({ namespace: 'trellis-system', labelSelector: 'app.kubernetes.io/name=trellis' })).items.map((p) => p.metadata?.name);
    // A meshed trellis-system: the control plane's own pods carry the opt-out label, so the
    // webhook (served by the pod being replaced) is never asked about them.
    const label = (value: string | null) =>
      core.patchNamespace({ name: 'trellis-system', body: { metadata: { labels: { 'trellis-injection': value } } } }, setHeaderOptions('Content-Type', 'application/merge-patch+json'));
    await label('enabled');
    const restart = (async () => {
      await apps.patchNamespacedDeployment(
        { namespace: 'trellis-system', name: 'trellis', body: { spec: { template: { metadata: { annotations: { 'trellis.test/restarted': String(Date.now()) } } } } } },
        setHeaderOptions('Content-Type', 'application/merge-patch+json'),
      );
      await waitFor('a new control plane, alone and Ready', async () => {
        const pods = (await core.listNamespacedPod({ namespace: 'trellis-system', labelSelector: 'app.kubernetes.io/name=trellis' })).items;
        return pods.length === 1 && !before.includes(pods[0].metadata?.name) && ready(pods[0]);
      }, 180_000);
    })();
    const replies = await trafficUntil(restart, '15s').finally(() => label(null));
    await restart;
    expect(replies.filter((r) => r.status !== 200)).toEqual([]);
    const [restarted] = (await core.listNamespacedPod({ namespace: 'trellis-system', labelSelector: 'app.kubernetes.io/name=trellis' })).items;
    expect(restarted.spec?.containers.map((c) => c.name)).toEqual(['trellis']);
    expect(restarted.spec?.initContainers ?? []).toEqual([]);
    // The client's proxy is back on the new control plane (over 15012, with its certificate).
    const reader = await debugReaderToken(ns);
    await waitFor('the client back in /debug/syncz', async () => {
      const res = await fetch(`http://${cpIp}:15014/debug/syncz`, { headers: { authorization: `Bearer ${reader}` } });
      return res.status === 200 && (await res.text()).includes(`client.${ns}`);
    }, 60_000);
  });
});
