// The mesh CA signs a workload's CSR only for the identity the caller proved, and what it issues
// verifies up to the root with independent verifiers (node:crypto and the openssl CLI).
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import type { webcrypto as WebCrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { CsrRejected, MeshCa } from '../../src/ca/authority.js';
import { createCsr, spiffeId } from '../../src/ca/csr.js';
import { splitPem } from '../../src/ca/pem.js';
import { opensslVerify } from '../support/ca-certs.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const TD = 'cluster.local';
const alice = { trustDomain: TD, namespace: 'shop', serviceAccount: 'alice' };
const ALICE = 'spiffe://cluster.local/ns/shop/sa/alice';
type CryptoKeyPair = WebCrypto.CryptoKeyPair;
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** A CSR made by another implementation, with any SANs and optionally someone else's public key. */
async function foreignCsr(names: x509.JsonGeneralNames, opts: { swapPublicKey?: boolean } = {}): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const other = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: opts.swapPublicKey ? { publicKey: other.publicKey, privateKey: keys.privateKey } : keys,
    signingAlgorithm: EC,
    extensions: [new x509.SubjectAlternativeNameExtension(names, true)],
  });
  return csr.toString('pem');
}

let ca: MeshCa;
beforeAll(async () => {
  ca = await MeshCa.create({ trustDomain: TD });
});

test('the self-signed root is an EC P-256 CA for ten years, organisation = trust domain', () => {
  const root = new X509Certificate(ca.rootPem);
  expect(root.ca).toBe(true);
  expect(root.subject).toBe('O=cluster.local');
  expect(root.checkIssued(root)).toBe(true);
  expect(root.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  const years = (new Date(root.validTo).getTime() - Date.now()) / (365.25 * 86_400_000);
  expect(years).toBeGreaterThan(9.9);
  expect(ca.certChain).toEqual([ca.rootPem]);
  expect(ca.selfSigned).toBe(true);
  expect(root.checkPrivateKey(createPrivateKey(ca.signingKeyPem))).toBe(true);
});

test('a CSR for the caller is signed: leaf first, root last, only the SPIFFE URI, client and server auth', async () => {
  const { csrPem, keyPem } = createCsr(spiffeId(alice));
  const chain = await ca.sign(csrPem, alice, 3600);
  expect(chain).toHaveLength(2);
  expect(chain[1]).toBe(ca.rootPem);
  const leaf = new X509Certificate(chain[0]);
  const root = new X509Certificate(chain[1]);
  expect(leaf.checkIssued(root)).toBe(true);
  expect(leaf.verify(root.publicKey)).toBe(true);
  expect(leaf.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
  expect(leaf.subjectAltName).toBe(`URI:${ALICE}`);
  expect(leaf.subject ?? '').toBe('');
  expect(leaf.ca).toBe(false);
  expect(leaf.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
  const parsed = new x509.X509Certificate(chain[0]);
  expect(parsed.getExtension(x509.SubjectAlternativeNameExtension)?.critical).toBe(true);
  const ku = parsed.getExtension(x509.KeyUsagesExtension)!;
  expect(ku.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  expect(parsed.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(new x509.X509Certificate(ca.rootPem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
  expect(parsed.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
  for (const purpose of ['sslclient', 'sslserver']) expect(opensslVerify(chain[0], ca.rootPem, [], purpose)).toMatchObject({ ok: true });
});

test('the lifetime asked for is honoured, backdated a minute, and capped at the maximum', async () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const capped = await MeshCa.create({ trustDomain: TD, maxTtlSeconds: 7200, now: new Date(now.getTime() - 86_400_000) });
  const one = new X509Certificate((await capped.sign(createCsr(ALICE).csrPem, alice, 3600, now))[0]);
  expect(new Date(one.validFrom).getTime()).toBe(now.getTime() - 60_000);
  expect(new Date(one.validTo).getTime()).toBe(now.getTime() + 3600_000);
  const long = new X509Certificate((await capped.sign(createCsr(ALICE).csrPem, alice, 365 * 86_400, now))[0]);
  expect(new Date(long.validTo).getTime()).toBe(now.getTime() + 7200_000);
  await expect(capped.sign(createCsr(ALICE).csrPem, alice, 0, now)).rejects.toThrow(CsrRejected);
});

test('nothing issued outlives the CA', async () => {
  const now = new Date();
  const short = await MeshCa.create({ trustDomain: TD, days: 1, maxTtlSeconds: 90 * 86_400, now });
  const leaf = new X509Certificate((await short.sign(createCsr(ALICE).csrPem, alice, 30 * 86_400, now))[0]);
  expect(new Date(leaf.validTo).getTime()).toBe(new Date(new X509Certificate(short.rootPem).validTo).getTime());
});

describe('attacks: a CSR is refused, with the reason, when', () => {
  async function refusal(csrPem: string): Promise<CsrRejected> {
    const err = await ca.sign(csrPem, alice, 3600).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CsrRejected);
    return err as CsrRejected;
  }

  test('it asks for another identity (a token for alice, a CSR for bob)', async () => {
    const err = await refusal(createCsr('spiffe://cluster.local/ns/shop/sa/bob').csrPem);
    expect(err.kind).toBe('identity');
    expect(err.reason).toBe(`the CSR asks for spiffe://cluster.local/ns/shop/sa/bob but the caller is ${ALICE}`);
  });

  test('it asks for the same account in another trust domain or namespace', async () => {
    expect((await refusal(createCsr('spiffe://evil.example/ns/shop/sa/alice').csrPem)).kind).toBe('identity');
    expect((await refusal(createCsr('spiffe://cluster.local/ns/kube-system/sa/alice').csrPem)).kind).toBe('identity');
  });

  test('it holds two URIs, its own and another', async () => {
    const err = await refusal(await foreignCsr([{ type: 'url', value: ALICE }, { type: 'url', value: 'spiffe://cluster.local/ns/shop/sa/bob' }]));
    expect(err.kind).toBe('invalid');
    expect(err.reason).toMatch(/holds 2 URIs .* exactly one is allowed/);
  });

  test('it adds a DNS name to its own URI', async () => {
    const err = await refusal(await foreignCsr([{ type: 'url', value: ALICE }, { type: 'dns', value: 'payments.bank.svc' }]));
    expect(err.reason).toContain('DNS:payments.bank.svc');
  });

  test('its signature is not by the key it carries (someone else\'s public key)', async () => {
    const err = await refusal(await foreignCsr([{ type: 'url', value: ALICE }], { swapPublicKey: true }));
    expect(err.kind).toBe('invalid');
    expect(err.reason).toBe('the CSR signature does not verify with its own public key');
  });

  test('a byte of it was changed after signing', async () => {
    const pem = createCsr(ALICE).csrPem;
    const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
    const at = der.indexOf(Buffer.from(ALICE));
    der[at + ALICE.length - 1] ^= 0x01; // alicd: same length, DER still well-formed
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect((await refusal(tampered)).reason).toBe('the CSR signature does not verify with its own public key');
  });

  test('it has no subjectAltName, is not PEM, or is garbage', async () => {
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    const bare = (await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=alice', keys, signingAlgorithm: EC })).toString('pem');
    expect((await refusal(bare)).reason).toMatch(/no subjectAltName/);
    expect((await refusal('')).reason).toBe('the CSR is empty');
    expect((await refusal('hello')).reason).toMatch(/not a PEM/);
    expect((await refusal('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n')).reason).toMatch(/does not parse/);
  });
});

test('the serving certificate carries the DNS names, server auth only, and chains to the root', async () => {
  const serving = await ca.issueServing(['trellis.trellis-system.svc', 'istiod.trellis-system.svc'], 30);
  expect(splitPem(serving.cert)).toHaveLength(1); // a self-signed CA: the root is not sent
  const cert = new X509Certificate(serving.cert);
  expect(cert.subjectAltName).toBe('DNS:trellis.trellis-system.svc, DNS:istiod.trellis-system.svc');
  expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  expect(cert.checkPrivateKey(createPrivateKey(serving.key))).toBe(true);
  expect(opensslVerify(serving.cert, ca.rootPem, [], 'sslserver')).toMatchObject({ ok: true });
  expect(Math.round((new Date(cert.validTo).getTime() - Date.now()) / 86_400_000)).toBe(30);
});

test('the serving certificate may carry IP addresses (a control plane on the host: 127.0.0.1)', async () => {
  const ips = ['127.0.0.1', '::1', '2001:db8::17', '::ffff:10.1.2.3', 'fe80:0:0:0:1:2:3:4'];
  const serving = await ca.issueServing(['trellis.trellis-system.svc'], 1, { ips });
  const cert = new X509Certificate(serving.cert);
  for (const ip of ips) expect(cert.checkIP(ip)).toBe(ip);
  expect(cert.checkIP('127.0.0.2')).toBeUndefined();
  expect(cert.checkHost('trellis.trellis-system.svc')).toBe('trellis.trellis-system.svc');
  await expect(ca.issueServing(['x'], 1, { ips: ['300.1.1.1'] })).rejects.toThrow('not an IP address');
});
