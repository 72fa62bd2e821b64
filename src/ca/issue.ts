// Issuing a leaf certificate: the TBSCertificate written in DER (der.ts) and signed with
// node:crypto. The CA's hot path: a workload certificate costs one signature and a few buffers.
import { randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { bitString, boolTrue, children, ctx, ctxPrimitive, octets, oid, parse, seq, time, tlv, unsignedInteger, TAG } from './der.js';
import { OID } from './oids.js';
import { derToPem } from './pem.js';

/** What signs: the CA's subject (raw DER), key, and key identifier. */
export interface Issuer {
  subjectDer: Buffer;
  key: KeyObject;
  /** The CA's subjectKeyIdentifier, written as the leaf's authorityKeyIdentifier. */
  keyId: Buffer;
}

export interface LeafSpec {
  /** The subject's public key (SubjectPublicKeyInfo, DER). */
  spki: Buffer;
  uris?: string[];
  dnsNames?: string[];
  /** IPv4 or IPv6 addresses. */
  ips?: string[];
  /** Extended key usage OIDs. */
  eku: string[];
  notBefore: Date;
  notAfter: Date;
}

/** The signature algorithm a CA key signs with: ECDSA with SHA-256 (P-256) or SHA-384 (P-384), RSA PKCS#1 v1.5 with SHA-256. */
export function signatureFor(key: KeyObject): { hash: string; algorithm: Buffer } {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return { hash: 'sha256', algorithm: seq(oid(OID.ecdsaWithSha256)) };
    if (curve === 'secp384r1') return { hash: 'sha384', algorithm: seq(oid(OID.ecdsaWithSha384)) };
    throw new Error(`unsupported EC curve ${curve ?? '?'} for a CA key (P-256 or P-384)`);
  }
  if (key.asymmetricKeyType === 'rsa') return { hash: 'sha256', algorithm: seq(oid(OID.sha256WithRsa), tlv(TAG.NULL)) };
  throw new Error(`unsupported CA key type ${key.asymmetricKeyType ?? '?'} (EC P-256/P-384 or RSA)`);
}

/** The subject Name of a certificate, as raw DER (to be the issuer of what it signs). */
export function subjectOf(certDer: Buffer): Buffer {
  const [tbs] = children(parse(certDer, TAG.SEQUENCE));
  const fields = children(tbs);
  const offset = fields[0].tag === ctx(0) ? 1 : 0; // [0] version is optional (v1)
  return fields[offset + 4].raw; // serial, signature, issuer, validity, subject
}

/** The bytes of an IPv4 (4) or IPv6 (16) address. */
export function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) throw new Error(`not an IP address: ${JSON.stringify(ip)}`);
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1].split('.').map(Number);
    text = `${text.slice(0, -v4[1].length)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), boolTrue(), octets(value)) : seq(oid(id), octets(value));
}

function serialNumber(): Buffer {
  const b = randomBytes(16);
  b[0] = (b[0] & 0x7f) | 0x01; // positive, and no leading zero byte
  return unsignedInteger(b);
}

/** A leaf certificate (PEM): empty subject, the names in a critical subjectAltName, not a CA. */
export function issueLeaf(issuer: Issuer, spec: LeafSpec): string {
  const { hash, algorithm } = signatureFor(issuer.key);
  for (const n of [...(spec.uris ?? []), ...(spec.dnsNames ?? [])]) if (!/^[\x21-\x7e]+$/.test(n)) throw new Error(`a certificate name must be printable ASCII: ${JSON.stringify(n)}`);
  const names = [
    ...(spec.uris ?? []).map((u) => tlv(ctxPrimitive(6), Buffer.from(u, 'ascii'))),
    ...(spec.dnsNames ?? []).map((d) => tlv(ctxPrimitive(2), Buffer.from(d, 'ascii'))),
    ...(spec.ips ?? []).map((ip) => tlv(ctxPrimitive(7), ipBytes(ip))),
  ];
  const extensions = seq(
    // digitalSignature (bit 0) and keyEncipherment (bit 2): one byte 1010_0000, 5 unused bits.
    extension(OID.keyUsage, true, bitString(Buffer.from([0xa0]), 5)),
    extension(OID.extKeyUsage, false, seq(...spec.eku.map(oid))),
    extension(OID.basicConstraints, true, seq()), // cA FALSE (the default, so empty)
    extension(OID.authorityKeyIdentifier, false, seq(tlv(ctxPrimitive(0), issuer.keyId))),
    // No subject: the identity is the subjectAltName, which is therefore critical (RFC 5280 4.2.1.6).
    extension(OID.subjectAltName, true, seq(...names)),
  );
  const tbs = seq(
    tlv(ctx(0), tlv(TAG.INTEGER, Buffer.from([2]))), // v3
    serialNumber(),
    algorithm,
    issuer.subjectDer,
    seq(time(spec.notBefore), time(spec.notAfter)),
    seq(), // empty subject
    spec.spki,
    tlv(ctx(3), extensions),
  );
  const signature = sign(hash, tbs, issuer.key);
  return derToPem(seq(tbs, algorithm, bitString(signature)), 'CERTIFICATE');
}
