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
 * table can be hundreds of KB, sent to every proxy; grpc-js copies the message once more when it
 * frames it).
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

  const buf = Buffer.allocUnsafe(size);
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
 * Decodes a request, leaving its `node` (DiscoveryRequest field 2, DeltaDiscoveryRequest field
 * 1) encoded until it is read. Envoy on delta ADS repeats the whole node (tens of KB: every
 * extension it was built with) in every request, yet only a stream's first request needs it.
 */
function decodeRequestLazyNode<T extends { node: unknown }>(name: string, nodeField: number, b: Buffer): T {
  const r = protobuf.Reader.create(b);
  let nodeBytes: Uint8Array | undefined;
  const rest: Uint8Array[] = [];
  let from = 0;
  while (r.pos < r.len) {
    const start = r.pos;
    const t = r.uint32();
    if (t === tag(nodeField)) {
      nodeBytes = r.bytes();
      rest.push(b.subarray(from, start));
      from = r.pos;
    } else {
      r.skipType(t & 7);
    }
  }
  if (!nodeBytes) return decodeMessage<T>(name, b);
  rest.push(b.subarray(from));
  const parts = rest.filter((x) => x.length > 0);
  // The node usually comes first: then the rest is decoded in place, without a copy.
  const msg = decodeMessage<T>(name, parts.length === 1 ? parts[0] : Buffer.concat(parts));
  const raw = nodeBytes;
  let node: Node__Output | undefined;
  Object.defineProperty(msg, 'node', { enumerable: true, configurable: true, get: () => (node ??= decodeMessage<Node__Output>(NODE, raw)) });
  return msg;
}

export const decodeSotwRequest = (b: Buffer): DiscoveryRequest__Output => decodeRequestLazyNode(DISCOVERY_REQUEST, 2, b);
export const decodeDeltaRequest = (b: Buffer): DeltaDiscoveryRequest__Output => decodeRequestLazyNode(DELTA_REQUEST, 1, b);
export const decodeSotwResponse = (b: Buffer): DiscoveryResponse__Output => decodeMessage(DISCOVERY_RESPONSE, b);
export const decodeDeltaResponse = (b: Buffer): DeltaDiscoveryResponse__Output => decodeMessage(DELTA_RESPONSE, b);
export const encodeSotwRequest = (r: DiscoveryRequest): Buffer => Buffer.from(encodeMessage(DISCOVERY_REQUEST, r));
export const encodeDeltaRequest = (r: DeltaDiscoveryRequest): Buffer => Buffer.from(encodeMessage(DELTA_REQUEST, r));
