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
import { decodeMessage, encodeMessage } from './protos.js';

export type { DeltaDiscoveryRequest__Output, DeltaDiscoveryResponse__Output, DiscoveryRequest__Output, DiscoveryResponse__Output };

const DISCOVERY_REQUEST = 'envoy.service.discovery.v3.DiscoveryRequest';
const DISCOVERY_RESPONSE = 'envoy.service.discovery.v3.DiscoveryResponse';
const DELTA_REQUEST = 'envoy.service.discovery.v3.DeltaDiscoveryRequest';
const DELTA_RESPONSE = 'envoy.service.discovery.v3.DeltaDiscoveryResponse';

const LEN = 2; // wire type of strings, bytes and messages
const tag = (field: number): number => (field << 3) | LEN;

export interface SotwResponse {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: readonly EncodedResource[];
  controlPlane?: string;
}

/** envoy.service.discovery.v3.DiscoveryResponse */
export function encodeSotwResponse(r: SotwResponse): Buffer {
  const w = protobuf.Writer.create();
  w.uint32(tag(1)).string(r.versionInfo);
  for (const res of r.resources) w.uint32(tag(2)).bytes(res.any);
  w.uint32(tag(4)).string(r.typeUrl);
  w.uint32(tag(5)).string(r.nonce);
  if (r.controlPlane) w.uint32(tag(6)).fork().uint32(tag(1)).string(r.controlPlane).ldelim();
  return Buffer.from(w.finish());
}

export interface DeltaResponse {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: readonly EncodedResource[];
  removed: readonly string[];
  controlPlane?: string;
}

/** envoy.service.discovery.v3.DeltaDiscoveryResponse */
export function encodeDeltaResponse(r: DeltaResponse): Buffer {
  const w = protobuf.Writer.create();
  w.uint32(tag(1)).string(r.systemVersionInfo);
  for (const res of r.resources) w.uint32(tag(2)).bytes(res.deltaResource);
  w.uint32(tag(4)).string(r.typeUrl);
  w.uint32(tag(5)).string(r.nonce);
  for (const name of r.removed) w.uint32(tag(6)).string(name);
  if (r.controlPlane) w.uint32(tag(7)).fork().uint32(tag(1)).string(r.controlPlane).ldelim();
  return Buffer.from(w.finish());
}

export const decodeSotwRequest = (b: Buffer): DiscoveryRequest__Output => decodeMessage(DISCOVERY_REQUEST, b);
export const decodeDeltaRequest = (b: Buffer): DeltaDiscoveryRequest__Output => decodeMessage(DELTA_REQUEST, b);
export const decodeSotwResponse = (b: Buffer): DiscoveryResponse__Output => decodeMessage(DISCOVERY_RESPONSE, b);
export const decodeDeltaResponse = (b: Buffer): DeltaDiscoveryResponse__Output => decodeMessage(DELTA_RESPONSE, b);
export const encodeSotwRequest = (r: DiscoveryRequest): Buffer => Buffer.from(encodeMessage(DISCOVERY_REQUEST, r));
export const encodeDeltaRequest = (r: DeltaDiscoveryRequest): Buffer => Buffer.from(encodeMessage(DELTA_REQUEST, r));
