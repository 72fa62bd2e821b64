// The agent's CSR, built with a few lines of DER: another implementation (openssl) reads it as
// a self-signed PKCS#10 request for the SPIFFE URI only, with a fresh EC P-256 key.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { createCsr, spiffeId } from '../../src/ca/csr.js';

test('openssl verifies the CSR and reads the URI, in a critical subjectAltName, and the P-256 key', () => {
  const id = spiffeId({ trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'alice' });
  expect(id).toBe('spiffe://cluster.local/ns/shop/sa/alice');
  const { csrPem, keyPem } = createCsr(id);
  const text = execFileSync('openssl', ['req', '-verify', '-noout', '-text'], { input: csrPem, stdio: 'pipe' }).toString();
  expect(text).toMatch(/X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/cluster.local\/ns\/shop\/sa\/alice\s/);
  expect(text).toContain('NIST CURVE: P-256');
  expect(text).toContain('ecdsa-with-SHA256');
  const key = createPrivateKey(keyPem);
  expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  const pub = execFileSync('openssl', ['req', '-noout', '-pubkey'], { input: csrPem, stdio: 'pipe' }).toString();
  expect(createPublicKey(pub).export({ type: 'spki', format: 'der' }).equals(createPublicKey(key).export({ type: 'spki', format: 'der' }))).toBe(true);
});

test('every CSR has its own key', () => {
  const id = 'spiffe://cluster.local/ns/shop/sa/alice';
  expect(createCsr(id).keyPem).not.toBe(createCsr(id).keyPem);
});

test('only a SPIFFE ID in plain ASCII is accepted', () => {
  expect(() => createCsr('https://example.com')).toThrow('not a SPIFFE ID');
  expect(() => createCsr('spiffe://cluster.local/ns/a b')).toThrow('not a SPIFFE ID');
  expect(() => createCsr('spiffe://clüster.local/ns/a/sa/b')).toThrow('not a SPIFFE ID');
});

test('the CA reads a P-256 key from its coordinates: a point off the curve is refused, the signed key is the CSR\'s own', async () => {
  const { MeshCa } = await import('../../src/ca/authority.js');
  const { checkCsr, CsrRejected } = await import('../../src/ca/csr-check.js');
  const id = 'spiffe://cluster.local/ns/shop/sa/alice';
  const { csrPem, keyPem } = createCsr(id);
  const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const spki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  const at = der.indexOf(spki);
  expect(at).toBeGreaterThan(0);
  // The last byte of y changed: no longer a point of P-256.
  const bad = Buffer.from(der);
  bad[at + spki.length - 1] ^= 0x01;
  const badPem = `-----BEGIN CERTIFICATE REQUEST-----\n${bad.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  expect(() => checkCsr(badPem, id)).toThrow(CsrRejected);
  expect(() => checkCsr(badPem, id)).toThrow(/does not parse|does not verify/);
  expect(checkCsr(csrPem, id).spki.equals(spki)).toBe(true);
  const ca = await MeshCa.create({ trustDomain: 'cluster.local' });
  const [leaf] = await ca.sign(csrPem, { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'alice' }, 60);
  const { X509Certificate } = await import('node:crypto');
  expect(new X509Certificate(leaf).publicKey.export({ type: 'spki', format: 'der' }).equals(spki)).toBe(true);
});
