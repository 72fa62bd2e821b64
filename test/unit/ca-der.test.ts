// The DER reader reads untrusted CSRs: whatever the bytes, checkCsr answers with a CsrRejected
// (or accepts a CSR that still verifies), never another exception.
import { randomBytes } from 'node:crypto';
import { checkCsr, CsrRejected } from '../../src/ca/csr-check.js';
import { createCsr } from '../../src/ca/csr.js';
import { children, oid, parse, readOid, seq, tlv, TAG, unsignedInteger } from '../../src/ca/der.js';
import { derToPem } from '../../src/ca/pem.js';

const URI = 'spiffe://cluster.local/ns/shop/sa/alice';
const derOf = (pem: string): Buffer => Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');

test('OIDs and integers round-trip', () => {
  for (const o of ['1.2.840.113549.1.9.14', '2.5.29.17', '1.3.6.1.5.5.7.3.2', '2.999.1234567']) expect(readOid(parse(oid(o)))).toBe(o);
  expect(unsignedInteger(Buffer.from([0x80]))).toEqual(Buffer.from([2, 2, 0, 0x80]));
  expect(unsignedInteger(Buffer.from([0, 0, 5]))).toEqual(Buffer.from([2, 1, 5]));
  const long = seq(tlv(TAG.OCTET_STRING, Buffer.alloc(300)));
  expect(children(parse(long))[0].content.length).toBe(300);
});

test('the reader refuses what is not DER: trailing bytes, indefinite or overlong lengths, truncation', () => {
  expect(() => parse(Buffer.from([0x30, 0x00, 0x00]))).toThrow('trailing bytes');
  expect(() => parse(Buffer.from([0x30, 0x80, 0x00, 0x00]))).toThrow('indefinite');
  expect(() => parse(Buffer.from([0x30, 0x81, 0x05, 0, 0, 0, 0, 0]))).toThrow('minimally');
  expect(() => parse(Buffer.from([0x30, 0x05, 0x00]))).toThrow('truncated');
  expect(() => parse(Buffer.from([0x30, 0x85, 1, 1, 1, 1, 1]))).toThrow('bad length');
});

test('attack: mangled CSRs (flipped bytes, truncations, random tails) are refused, never crash', () => {
  const der = derOf(createCsr(URI).csrPem);
  let refused = 0;
  for (let i = 0; i < 3000; i++) {
    const m = Buffer.from(der);
    const kind = i % 3;
    let bytes: Buffer;
    if (kind === 0) {
      const n = 1 + (i % 4);
      for (let j = 0; j < n; j++) m[randomBytes(2).readUInt16BE() % m.length] = randomBytes(1)[0];
      bytes = m;
    } else if (kind === 1) bytes = m.subarray(0, randomBytes(2).readUInt16BE() % m.length);
    else bytes = Buffer.concat([m.subarray(0, randomBytes(2).readUInt16BE() % m.length), randomBytes(1 + (i % 40))]);
    try {
      checkCsr(derToPem(bytes, 'CERTIFICATE REQUEST'), URI);
    } catch (err) {
      if (!(err instanceof CsrRejected)) throw new Error(`mutation ${i} threw ${String(err)}`, { cause: err });
      refused++;
    }
  }
  expect(refused).toBeGreaterThan(2900);
});
