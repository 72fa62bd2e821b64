// Discovery messages on the wire. Requests are decoded with protobufjs; responses are written
// by hand around the resources' pre-encoded bytes, so building a response never re-serialises
// a resource (the bytes are copied into the frame, nothing more).
import protobuf from 'protobufjs';
import type { DeltaDiscoveryRequest__Output } from './generated/envoy/service/discovery/v3/DeltaDiscoveryRequest.js';
import type { DeltaDiscoveryResponse__Output } from './generated/envoy/service/discovery/v3/DeltaDiscoveryResponse.js';
import type { DiscoveryRequest__Output } from './generated/envoy/service/discovery/v3/DiscoveryRequest.js';
import type { DiscoveryResponse__Output } from './generated/envoy/service/discovery/v3/DiscoveryResponse.js';
import type { DeltaDiscoveryRequest } from './generated/envoy/service/discovery/v3/DeltaDiscoveryRequest.js';
import type { DiscoveryRequest } from './generated/envoy/service/discovery/v3/DiscoveryRequest.js';
import type { EncodedResource } from './encoded-resource.js';
import type { Node__Output } from './generated/envoy/config/core/v3/Node.js';
import { decodeMessage, encodeMessage } from './protos.js';
import { framedBuffer } from './framing.js';

export type { DeltaDiscoveryRequest__Output, DeltaDiscoveryResponse__Output, DiscoveryRequest__Output, DiscoveryResponse__Output };

const DISCOVERY_REQUEST = 'envoy.service.discovery.v3.DiscoveryRequest';
const DISCOVERY_RESPONSE = 'envoy.service.discovery.v3.DiscoveryResponse';
const DELTA_REQUEST = 'envoy.service.discovery.v3.DeltaDiscoveryRequest';
const DELTA_RESPONSE = 'envoy.service.discovery.v3.DeltaDiscoveryResponse';
const NODE = 'envoy.config.core.v3.Node';

const LEN = 2; // wire type of strings, bytes and messages
const tag = (field: number): number => (field << 3) | LEN;

export interface SotwResponse {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: readonly EncodedResource[];
  controlPlane?: string;
}

export interface DeltaResponse {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: readonly EncodedResource[];
  removed: readonly string[];
  controlPlane?: string;
}

const varintSize = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);

/** A length-delimited field's size: tag, length, payload. */
const fieldSize = (field: number, len: number): number => varintSize(tag(field)) + varintSize(len) + len;

function putVarint(buf: Buffer, pos: number, n: number): number {
  while (n > 0x7f) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
  return pos;
}

/**
 * The fields both responses share, at the same numbers: version (1), resources (2), type_url (4),
 * nonce (5); then the delta-only removed_resources (6); control_plane is field 6 in a
 * DiscoveryResponse and 7 in a DeltaDiscoveryResponse. Sized first, then written into one
 * buffer: each resource's bytes are copied into it once, with no intermediate buffers (a route
 * table can be hundreds of KB, sent to every proxy). The buffer has its gRPC frame in front
 * (framing.ts), so it is not copied again to be written.
 */
function encodeResponse(version: string, resources: readonly EncodedResource[], bytesOf: (r: EncodedResource) => Uint8Array, typeUrl: string, nonce: string, removed: readonly string[], controlPlaneField: number, controlPlane: string | undefined): Buffer {
  const strings: Array<[number, string, number]> = [[1, version, Buffer.byteLength(version)]];
  let size = fieldSize(1, strings[0][2]);
  const bodies = resources.map(bytesOf);
  for (const b of bodies) size += fieldSize(2, b.length);
  for (const [field, value] of [[4, typeUrl], [5, nonce], ...removed.map((r) => [6, r] as const)] as const) {
    const len = Buffer.byteLength(value);
    strings.push([field, value, len]);
    size += fieldSize(field, len);
  }
  // control_plane { identifier (1) }
  const cpLen = controlPlane ? Buffer.byteLength(controlPlane) : 0;
  const cpInner = controlPlane ? fieldSize(1, cpLen) : 0;
  if (controlPlane) size += fieldSize(controlPlaneField, cpInner);

  const buf = framedBuffer(size);
  let pos = 0;
  const putString = ([field, value, len]: [number, string, number]): void => {
    pos = putVarint(buf, pos, tag(field));
    pos = putVarint(buf, pos, len);
    pos += buf.write(value, pos, len, 'utf8');
  };
  putString(strings[0]);
  for (const b of bodies) {
    pos = putVarint(buf, pos, tag(2));
    pos = putVarint(buf, pos, b.length);
    buf.set(b, pos);
    pos += b.length;
  }
  for (const s of strings.slice(1)) putString(s);
  if (controlPlane) {
    pos = putVarint(buf, pos, tag(controlPlaneField));
    pos = putVarint(buf, pos, cpInner);
    putString([1, controlPlane, cpLen]);
  }
  if (pos !== size) throw new Error(`response encoding wrote ${pos} of ${size} bytes`);
  return buf;
}

/** envoy.service.discovery.v3.DiscoveryResponse: resources as google.protobuf.Any. */
export function encodeSotwResponse(r: SotwResponse): Buffer {
  return encodeResponse(r.versionInfo, r.resources, (res) => res.any, r.typeUrl, r.nonce, [], 6, r.controlPlane);
}

/** envoy.service.discovery.v3.DeltaDiscoveryResponse: resources as discovery Resources. */
export function encodeDeltaResponse(r: DeltaResponse): Buffer {
  return encodeResponse(r.systemVersionInfo, r.resources, (res) => res.deltaResource, r.typeUrl, r.nonce, r.removed, 7, r.controlPlane);
}

/**
 * The decoded resource_names of recent SotW requests, by their bytes. A SotW client repeats its
 * whole list in every ACK (a sidecar of a 1,000-service mesh: 1,000 EDS names, ~60 KB), and
 * proxies alike ask for the same list: decoding it once and handing out the same frozen array
 * saves the decoding and lets a subscription see "the same list" by identity.
 */
class NameLists {
  /** By a fingerprint of the bytes (hashing all of a 60 KB key per ACK would cost what decoding does); the bytes themselves decide. */
  private readonly byPrint = new Map<string, { bytes: Buffer; names: readonly string[] }>();

  constructor(private readonly max: number) {}

  /** A few bytes spread over the list, its end and its length. */
  private static print(bytes: Buffer): string {
    const n = bytes.length;
    let out = `${n}:`;
    for (let i = 1; i < 16; i++) out += String.fromCharCode(bytes[Math.floor((n * i) / 16)]);
    return out + bytes.toString('latin1', Math.max(0, n - 32));
  }

  get(bytes: Buffer): readonly string[] | undefined {
    const key = NameLists.print(bytes);
    const found = this.byPrint.get(key);
    if (!found || !found.bytes.equals(bytes)) return undefined;
    this.byPrint.delete(key); // most recently used last
    this.byPrint.set(key, found);
    return found.names;
  }

  set(bytes: Buffer, names: readonly string[]): void {
    this.byPrint.set(NameLists.print(bytes), { bytes: Buffer.from(bytes), names });
    if (this.byPrint.size > this.max) this.byPrint.delete(this.byPrint.keys().next().value!);
  }
}

const sotwNameLists = new NameLists(256);
/** Shorter lists are decoded each time: the lookup would cost about what it saves. */
const SHARED_NAMES_MIN_BYTES = 256;

/**
 * Decodes a request, leaving its `node` (DiscoveryRequest field 2, DeltaDiscoveryRequest field
 * 1) encoded until it is read. Envoy on delta ADS repeats the whole node (tens of KB: every
 * extension it was built with) in every request, yet only a stream's first request needs it.
 * `namesField` (SotW's resource_names, 3): a list sent before, byte for byte, is not decoded
 * again (sotwNameLists).
 */
function decodeRequestLazy<T extends { node: unknown }>(name: string, nodeField: number, b: Buffer, namesField?: number): T {
  const r = protobuf.Reader.create(b);
  let nodeBytes: Uint8Array | undefined;
  /** Byte ranges left out of what protobufjs decodes. */
  const skipped: Array<[number, number]> = [];
  let names: { start: number; end: number; contiguous: boolean } | undefined;
  while (r.pos < r.len) {
    const start = r.pos;
    const t = r.uint32();
    if (t === tag(nodeField)) {
      nodeBytes = r.bytes();
      skipped.push([start, r.pos]);
      continue;
    }
    r.skipType(t & 7);
    if (namesField === undefined || t !== tag(namesField)) continue;
    if (!names) names = { start, end: r.pos, contiguous: true };
    else if (names.end === start) names.end = r.pos;
    else names.contiguous = false;
  }
  let shared: readonly string[] | undefined;
  let key: Buffer | undefined;
  if (names?.contiguous && names.end - names.start >= SHARED_NAMES_MIN_BYTES) {
    key = b.subarray(names.start, names.end);
    shared = sotwNameLists.get(key);
    if (shared) skipped.push([names.start, names.end]);
  }
  let body = b;
  if (skipped.length > 0) {
    skipped.sort((x, y) => x[0] - y[0]);
    const parts: Buffer[] = [];
    let from = 0;
    for (const [start, end] of skipped) {
      if (start > from) parts.push(b.subarray(from, start));
      from = end;
    }
    if (from < b.length) parts.push(b.subarray(from));
    // The node usually comes first: then the rest is decoded in place, without a copy.
    body = parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }
  const msg = decodeMessage<T>(name, body);
  if (shared) (msg as unknown as { resource_names: readonly string[] }).resource_names = shared;
  else if (key !== undefined) sotwNameLists.set(key, Object.freeze((msg as unknown as { resource_names: string[] }).resource_names));
  if (nodeBytes) {
    const raw = nodeBytes;
    let node: Node__Output | undefined;
    Object.defineProperty(msg, 'node', { enumerable: true, configurable: true, get: () => (node ??= decodeMessage<Node__Output>(NODE, raw)) });
  }
  return msg;
}

export const decodeSotwRequest = (b: Buffer): DiscoveryRequest__Output => decodeRequestLazy(DISCOVERY_REQUEST, 2, b, 3);
export const decodeDeltaRequest = (b: Buffer): DeltaDiscoveryRequest__Output => decodeRequestLazy(DELTA_REQUEST, 1, b);
export const decodeSotwResponse = (b: Buffer): DiscoveryResponse__Output => decodeMessage(DISCOVERY_RESPONSE, b);
export const decodeDeltaResponse = (b: Buffer): DeltaDiscoveryResponse__Output => decodeMessage(DELTA_RESPONSE, b);
export const encodeSotwRequest = (r: DiscoveryRequest): Buffer => Buffer.from(encodeMessage(DISCOVERY_REQUEST, r));
export const encodeDeltaRequest = (r: DeltaDiscoveryRequest): Buffer => Buffer.from(encodeMessage(DELTA_REQUEST, r));
