import { X509Certificate } from 'node:crypto';
import { createCa, issueServing, needsRenewal } from '../../src/webhooks/certs.js';

test('the serving certificate is signed by the CA and covers the names and addresses', async () => {
  const ca = await createCa();
  const serving = await issueServing(ca, ['trellis.trellis-system.svc', 'trellis.trellis-system.svc.cluster.local'], ['127.0.0.1']);
  const caCert = new X509Certificate(ca.cert);
  const cert = new X509Certificate(serving.cert);
  expect(cert.verify(caCert.publicKey)).toBe(true);
  expect(cert.checkIssued(caCert)).toBe(true);
  expect(caCert.ca).toBe(true);
  expect(cert.ca).toBe(false);
  expect(cert.subjectAltName).toBe('DNS:trellis.trellis-system.svc, DNS:trellis.trellis-system.svc.cluster.local, IP Address:127.0.0.1');
  expect(cert.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(serving.key)))).toBe(true);
});

test('renewal is due before expiry, or when a name is missing', async () => {
  const ca = await createCa();
  const now = new Date('2026-01-01T00:00:00Z');
  const serving = await issueServing(ca, ['a.svc'], [], now, 365);
  expect(needsRenewal(serving.cert, ['a.svc'], [], 30, new Date('2026-06-01T00:00:00Z'))).toBe(false);
  expect(needsRenewal(serving.cert, ['a.svc'], [], 30, new Date('2026-12-15T00:00:00Z'))).toBe(true);
  expect(needsRenewal(serving.cert, ['a.svc', 'b.svc'], [], 30, now)).toBe(true);
  expect(needsRenewal('not a certificate', [], [], 30, now)).toBe(true);
});
