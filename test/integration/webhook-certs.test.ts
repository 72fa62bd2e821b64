// The webhook serving certificate lives in a Secret; one close to expiry is renewed at start
// with the same CA (so the caBundle stays valid), and the server presents the new one.
import tls from 'node:tls';
import { createCa, issueServing } from '../../src/webhooks/certs.js';
import { clusterAvailable, kube, testNamespace } from '../support/cluster.js';
import { startControlPlane } from '../support/control-plane.js';

const ns = testNamespace('certs');
const { core } = kube();
const b64 = (s: string): string => Buffer.from(s).toString('base64');

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
});
afterAll(() => core.deleteNamespace({ name: ns }).catch(() => undefined));

function peerCertificate(url: string): Promise<tls.PeerCertificate> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate());
      s.end();
    });
    s.on('error', reject);
  });
}

test('a serving certificate about to expire is renewed with the same CA', async () => {
  const ca = await createCa();
  const almostExpired = await issueServing(ca, ['old.example'], ['127.0.0.1'], new Date(Date.now() - 360 * 86_400_000), 365);
  await core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: `trellis-webhook-certs-${ns}` }, type: 'Opaque', data: { 'ca.crt': b64(ca.cert), 'ca.key': b64(ca.key), 'tls.crt': b64(almostExpired.cert), 'tls.key': b64(almostExpired.key) } },
  });
  const cp = await startControlPlane({ namespace: ns, validatingConfig: `trellis-validator-${ns}` });
  try {
    const secret = await core.readNamespacedSecret({ namespace: ns, name: `trellis-webhook-certs-${ns}` });
    expect(Buffer.from(secret.data!['ca.crt'], 'base64').toString()).toBe(ca.cert);
    const stored = Buffer.from(secret.data!['tls.crt'], 'base64').toString();
    expect(stored).not.toBe(almostExpired.cert);
    const served = await peerCertificate(cp.webhookUrl);
    expect(new Date(served.valid_to).getTime() - Date.now()).toBeGreaterThan(300 * 86_400_000);
    expect(served.subjectaltname).toContain('IP Address:127.0.0.1');
    expect(served.issuer.CN).toBe('trellis-webhook-ca');
  } finally {
    await cp.stop();
  }
});
