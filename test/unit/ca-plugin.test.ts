// A plug-in CA (Istio's `cacerts`: an intermediate signed by the operator's root) signs with the
// intermediate and hands out the whole chain; broken material is refused, naming the file.
import { X509Certificate } from 'node:crypto';
import { MeshCa } from '../../src/ca/authority.js';
import { CaMaterialError, validateCaMaterial } from '../../src/ca/chain.js';
import { createCsr } from '../../src/ca/csr.js';
import { splitPem } from '../../src/ca/pem.js';
import { makePluginCa, opensslVerify } from '../support/ca-certs.js';

const alice = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'alice' };
const ALICE = 'spiffe://cluster.local/ns/shop/sa/alice';
const ec = makePluginCa();
const rsa = makePluginCa({ rsa: true });

test.each([
  ['EC P-256', ec],
  ['RSA 2048', rsa],
])('an intermediate (%s) signs; the chain is leaf, intermediate, root and verifies', async (_name, plugin) => {
  const ca = await MeshCa.fromPem({ caCertPem: plugin.caCert, caKeyPem: plugin.caKey, rootCertPem: plugin.rootCert, certChainPem: plugin.certChain }, { trustDomain: 'cluster.local' });
  expect(ca.rootPem).toBe(plugin.rootCert);
  expect(ca.selfSigned).toBe(false);
  const chain = await ca.sign(createCsr(ALICE).csrPem, alice, 3600);
  expect(chain).toEqual([expect.any(String), plugin.caCert, plugin.rootCert]);
  const [leaf, inter, root] = chain.map((p) => new X509Certificate(p));
  expect(leaf.checkIssued(inter)).toBe(true);
  expect(leaf.verify(inter.publicKey)).toBe(true);
  expect(inter.verify(root.publicKey)).toBe(true);
  expect(leaf.subjectAltName).toBe(`URI:${ALICE}`);
  expect(opensslVerify(chain[0], plugin.rootCert, [plugin.caCert])).toMatchObject({ ok: true });
  // Without the intermediate the leaf does not verify: the chain is needed, and sent.
  expect(opensslVerify(chain[0], plugin.rootCert, []).ok).toBe(false);
  // The serving certificate carries the intermediate too.
  const serving = await ca.issueServing(['trellis.trellis-system.svc'], 7);
  expect(serving.cert.endsWith(plugin.caCert)).toBe(true);
});

test('cert-chain.pem may be left out, or hold only ca-cert.pem: the root is appended', async () => {
  for (const certChainPem of [undefined, '', ec.caCert]) {
    const ca = await MeshCa.fromPem({ caCertPem: ec.caCert, caKeyPem: ec.caKey, rootCertPem: ec.rootCert, certChainPem }, { trustDomain: 'cluster.local' });
    expect(ca.certChain).toEqual([ec.caCert, ec.rootCert]);
  }
});

test('a root bundle with an extra (older) root is published whole; the chain picks the right one', () => {
  const old = makePluginCa();
  const v = validateCaMaterial({ caCertPem: ec.caCert, caKeyPem: ec.caKey, rootCertPem: old.rootCert + ec.rootCert, certChainPem: ec.caCert });
  expect(v.chain).toEqual([ec.caCert, ec.rootCert]);
  expect(v.rootPem).toBe(old.rootCert + ec.rootCert);
});

describe('broken plug-in material is refused, naming the file', () => {
  const other = makePluginCa();
  function error(m: Parameters<typeof validateCaMaterial>[0], now?: Date): CaMaterialError {
    try {
      validateCaMaterial(m, now);
    } catch (err) {
      expect(err).toBeInstanceOf(CaMaterialError);
      return err as CaMaterialError;
    }
    throw new Error('accepted');
  }

  test('a key that does not belong to the certificate', () => {
    const e = error({ caCertPem: ec.caCert, caKeyPem: other.caKey, rootCertPem: ec.rootCert });
    expect(e.key).toBe('ca-key.pem');
    expect(e.message).toMatch(/^ca-key.pem: does not match the certificate in ca-cert.pem \("O=Test Org, CN=Intermediate CA cluster1"\)/);
  });

  test('a key that is not a key', () => {
    expect(error({ caCertPem: ec.caCert, caKeyPem: 'nope', rootCertPem: ec.rootCert }).key).toBe('ca-key.pem');
  });

  test('a certificate that is not a CA', async () => {
    const ca = await MeshCa.fromPem({ caCertPem: ec.caCert, caKeyPem: ec.caKey, rootCertPem: ec.rootCert }, { trustDomain: 'cluster.local' });
    const serving = await ca.issueServing(['x.example'], 1);
    const [leafOnly] = splitPem(serving.cert);
    const e = error({ caCertPem: leafOnly, caKeyPem: serving.key, rootCertPem: ec.rootCert });
    expect(e.message).toMatch(/^ca-cert.pem: certificate .* is not a CA certificate/);
  });

  test('a chain that leads to another root', () => {
    const e = error({ caCertPem: ec.caCert, caKeyPem: ec.caKey, rootCertPem: other.rootCert });
    expect(e.key).toBe('root-cert.pem');
    expect(e.message).toMatch(/does not lead to a certificate of root-cert.pem/);
  });

  test('a cert-chain.pem whose next certificate did not sign the one before', () => {
    const e = error({ caCertPem: ec.caCert, caKeyPem: ec.caKey, rootCertPem: ec.rootCert, certChainPem: ec.caCert + other.rootCert });
    expect(e.key).toBe('cert-chain.pem');
    expect(e.message).toMatch(/is not signed by the next certificate in the chain, "O=Test Org, CN=Test Root CA"/);
  });

  test('an expired intermediate', () => {
    const e = error({ caCertPem: ec.caCert, caKeyPem: ec.caKey, rootCertPem: ec.rootCert }, new Date(Date.now() + 25 * 86_400_000));
    expect(e.message).toMatch(/^ca-cert.pem: certificate .* expired on /);
  });

  test('an empty root-cert.pem', () => {
    expect(error({ caCertPem: ec.caCert, caKeyPem: ec.caKey, rootCertPem: '' }).message).toBe('root-cert.pem: holds no PEM certificate');
  });
});
