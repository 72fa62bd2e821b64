// Who may hold an xDS stream, against the real API server (TokenReview of real tokens) and the
// control plane process: a gateway's Secret, with its private key, is never sent over the
// plaintext port, even to a node that claims to be that gateway; over TLS it goes to a proxy
// authenticated in the Secret's namespace only. A pod-bound token stolen from one pod cannot
// speak for another pod; a token for another audience is refused.
import * as grpc from '@grpc/grpc-js';
import { AdsClient } from '../support/ads-client.js';
import { TypeUrl } from '../../src/xds/types.js';
import { makeServingCert } from '../support/certs.js';
import { clusterAvailable, createIstioObject, kube, testNamespace, waitFor } from '../support/cluster.js';
import { startControlPlane, type RunningControlPlane } from '../support/control-plane.js';
import { heldPod, serviceAccountToken } from '../support/tokens.js';

const ns = testNamespace('xds-access');
const { core } = kube();
const selector = { app: 'edge' };
let cp: RunningControlPlane;
let rootCa = '';

/** The node of a gateway pod `pod` of this namespace, with the labels its Gateway selects. */
function gatewayNode(pod: string): object {
  const labels = { fields: Object.fromEntries(Object.entries(selector).map(([k, v]) => [k, { stringValue: v }])) };
  return { id: `router~10.244.0.99~${pod}.${ns}~${ns}.svc.cluster.local`, metadata: { fields: { NAMESPACE: { stringValue: ns }, LABELS: { structValue: labels } } } };
}

/** Subscribes like a gateway; returns what arrived (listeners, Secrets) and the stream's error. */
async function asGateway(target: 'plaintext' | 'tls', pod: string, token?: string): Promise<{ listeners: string[]; secrets: string[]; error: string }> {
  const client = new AdsClient(target === 'plaintext' ? cp.xdsAddress : cp.xdsTlsAddress, {
    node: gatewayNode(pod) as never,
    ...(target === 'tls' ? { tls: { rootCa, serverName: `trellis.${ns}.svc` } } : {}),
    ...(token ? { token } : {}),
  });
  try {
    client.subscribe(TypeUrl.Listener, []);
    client.subscribe(TypeUrl.Secret, ['kubernetes://edge-credential']);
    await client.until('the listeners or the end of the stream', () => client.error !== undefined || client.names(TypeUrl.Listener).length > 0, 20_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 1000)); // and whatever else comes
    return { listeners: client.names(TypeUrl.Listener), secrets: client.names(TypeUrl.Secret), error: client.error?.message ?? '' };
  } finally {
    client.close();
  }
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
  cp = await startControlPlane({ namespace: ns, validatingConfig: `trellis-validator-${ns}` });
  const cert = makeServingCert(['DNS:edge.example.com'], 'edge');
  await core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'edge-credential' }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from(cert.cert).toString('base64'), 'tls.key': Buffer.from(cert.key).toString('base64') } },
  });
  // Retried: on a fresh cluster the CRDs the control plane start applied may still be settling.
  const gateway = { selector, servers: [{ port: { number: 8443, name: 'https', protocol: 'HTTPS' }, hosts: ['edge.example.com'], tls: { mode: 'SIMPLE', credentialName: 'edge-credential' } }] };
  await waitFor('the Gateway', () => createIstioObject(ns, 'Gateway', 'edge', gateway).then(() => true), 30_000);
  const secret = await core.readNamespacedSecret({ namespace: ns, name: 'istio-ca-secret' });
  rootCa = Buffer.from(secret.data?.['ca-cert.pem'] ?? '', 'base64').toString();
});

afterAll(async () => {
  if (cp) await cp.stop();
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test("over TLS, a gateway authenticated in the Secret's namespace gets its listener and its Secret (the control)", async () => {
  const token = await serviceAccountToken(ns, 'default', { audiences: ['istio-ca'] });
  const got = await waitFor('the gateway configuration', async () => {
    const r = await asGateway('tls', 'edge-0', token);
    return r.secrets.length > 0 ? r : undefined;
  }, 60_000);
  expect(got.listeners.length).toBeGreaterThan(0);
  expect(got.secrets).toEqual(['kubernetes://edge-credential']);
});

test('over plaintext, a node claiming to be that gateway gets its configuration but never the Secret', async () => {
  const r = await asGateway('plaintext', 'edge-0');
  expect(r.listeners.length).toBeGreaterThan(0); // it is served ...
  expect(r.secrets).toEqual([]); // ... but no private key
});

test("a pod-bound token taken from one pod cannot speak for another pod of the same service account", async () => {
  const victim = await heldPod(ns, 'victim', 'default');
  const stolen = await serviceAccountToken(ns, 'default', { audiences: ['istio-ca'], pod: victim });
  const r = await asGateway('tls', 'edge-0', stolen);
  expect(r.error).toContain(`${grpc.status.PERMISSION_DENIED} PERMISSION_DENIED`);
  expect(r.error).toContain('its token is bound to pod victim');
  expect(r).toMatchObject({ listeners: [], secrets: [] });
  // The same token is accepted for the pod it belongs to.
  const own = await asGateway('tls', 'victim', stolen);
  expect(own.error).toBe('');
  expect(own.secrets).toEqual(['kubernetes://edge-credential']);
});

test('a token for another audience (the API server) is refused: UNAUTHENTICATED, nothing sent', async () => {
  const apiToken = await serviceAccountToken(ns, 'default');
  const r = await asGateway('tls', 'edge-0', apiToken);
  expect(r.error).toContain(`${grpc.status.UNAUTHENTICATED} UNAUTHENTICATED`);
  expect(r).toMatchObject({ listeners: [], secrets: [] });
});

test("a deleted pod's token stops working at once (not when the TokenReview cache would expire)", async () => {
  const pod = await heldPod(ns, 'short-lived', 'default');
  const token = await serviceAccountToken(ns, 'default', { audiences: ['istio-ca'], pod });
  const alive = await asGateway('tls', 'short-lived', token);
  expect(alive.error).toBe('');
  expect(alive.secrets).toEqual(['kubernetes://edge-credential']);
  await core.deleteNamespacedPod({ namespace: ns, name: 'short-lived', gracePeriodSeconds: 0 });
  // The review was cached for minutes; the control plane forgets it when the pod goes.
  const gone = await waitFor('the token to be refused', async () => {
    const r = await asGateway('tls', 'short-lived', token);
    return r.error ? r : undefined;
  }, 30_000);
  expect(gone.error).toContain(`${grpc.status.UNAUTHENTICATED} UNAUTHENTICATED`);
  expect(gone).toMatchObject({ listeners: [], secrets: [] });
});
