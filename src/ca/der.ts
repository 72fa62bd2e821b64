// Just enough DER (X.690) to build and read the few ASN.1 structures the CA handles on its hot
// path: certification requests and workload certificates. Node built-ins only. The reader is
// strict (definite lengths, bounds checked, nothing trailing) because it reads untrusted CSRs.

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Context-specific tags: [n] constructed (explicit / structured) and [n] primitive (implicit). */
export const ctx = (n: number): number => 0xa0 | n;
export const ctxPrimitive = (n: number): number => 0x80 | n;

// ---- writing

export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  let len: number[];
  if (n < 0x80) len = [n];
  else if (n < 0x100) len = [0x81, n];
  else if (n < 0x10000) len = [0x82, n >> 8, n & 0xff];
  else len = [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), body]);
}

export const seq = (...c: Uint8Array[]): Buffer => tlv(TAG.SEQUENCE, ...c);

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const bytes: number[] = [];
  for (const sub of [arcs[0] * 40 + arcs[1], ...arcs.slice(2)]) {
    const chunk = [sub & 0x7f];
    for (let v = Math.floor(sub / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(TAG.OID, Buffer.from(bytes));
}

/** A non-negative INTEGER from big-endian bytes (a leading zero is added when the top bit is set). */
export function unsignedInteger(bytes: Uint8Array): Buffer {
  let b = Buffer.from(bytes);
  while (b.length > 1 && b[0] === 0 && b[1] < 0x80) b = b.subarray(1);
  return tlv(TAG.INTEGER, b[0] >= 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

export const boolTrue = (): Buffer => tlv(TAG.BOOLEAN, Buffer.from([0xff]));
export const octets = (b: Uint8Array): Buffer => tlv(TAG.OCTET_STRING, b);
export const bitString = (b: Uint8Array, unusedBits = 0): Buffer => tlv(TAG.BIT_STRING, Buffer.from([unusedBits]), b);

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5); whole seconds. */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = d.getUTCFullYear();
  return year >= 1950 && year < 2050 ? tlv(TAG.UTC_TIME, Buffer.from(digits.slice(2), 'ascii')) : tlv(TAG.GENERALIZED_TIME, Buffer.from(digits, 'ascii'));
}

// ---- reading

export class DerError extends Error {
  override name = 'DerError';
}

export interface Node {
  tag: number;
  /** The whole TLV (header and content). */
  raw: Buffer;
  content: Buffer;
}

const MAX_LENGTH_BYTES = 4; // lengths up to 4 GiB; anything longer is refused

function readAt(buf: Buffer, at: number): Node {
  if (at + 2 > buf.length) throw new DerError('truncated');
  const tag = buf[at];
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not used here');
  let len = buf[at + 1];
  let header = 2;
  if (len === 0x80) throw new DerError('indefinite length is not DER');
  if (len > 0x80) {
    const n = len & 0x7f;
    if (n > MAX_LENGTH_BYTES || at + 2 + n > buf.length) throw new DerError('bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[at + 2 + i];
    if (len < 0x80 || buf[at + 2] === 0) throw new DerError('length not minimally encoded');
    header += n;
  }
  const end = at + header + len;
  if (end > buf.length) throw new DerError('truncated');
  return { tag, raw: buf.subarray(at, end), content: buf.subarray(at + header, end) };
}

/** The single TLV that `buf` holds (nothing may trail it). */
export function parse(buf: Buffer, tag?: number): Node {
  const n = readAt(buf, 0);
  if (n.raw.length !== buf.length) throw new DerError('trailing bytes');
  if (tag !== undefined && n.tag !== tag) throw new DerError(`expected tag 0x${tag.toString(16)}, got 0x${n.tag.toString(16)}`);
  return n;
}

/** The TLVs inside a constructed node. */
export function children(node: Node): Node[] {
  if ((node.tag & 0x20) === 0) throw new DerError(`tag 0x${node.tag.toString(16)} is not constructed`);
  const out: Node[] = [];
  for (let at = 0; at < node.content.length; ) {
    const c = readAt(node.content, at);
    out.push(c);
    at += c.raw.length;
  }
  return out;
}

export function expectTag(node: Node | undefined, tag: number, what: string): Node {
  if (!node) throw new DerError(`${what} is missing`);
  if (node.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`);
  return node;
}

export function readOid(node: Node): string {
  if (node.tag !== TAG.OID || node.content.length === 0) throw new DerError('not an OBJECT IDENTIFIER');
  const b = node.content;
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OID arc too large');
    if ((b[i] & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    } else if (i === b.length - 1) throw new DerError('truncated OID');
  }
  return arcs.join('.');
}
