// What the xDS server reports as it happens, for status, benchmarks and tests: a proxy ACKed or
// NACKed a response (`XdsServer.events`). Listeners run synchronously on the server's event
// loop: keep them cheap (the ack event fires once per ACK of every proxy).
import type { EncodedResource } from './encoded-resource.js';
import type { NackRecord, Proxy } from './proxy-registry.js';
import type { TypeUrl } from './types.js';

export interface AckEvent {
  readonly proxy: Proxy;
  readonly streamId: string;
  readonly typeUrl: TypeUrl;
  /** The version of the ACKed response (state of the world: the response's version_info). */
  readonly version: string;
  readonly nonce: string;
  /** The resources the ACKed response carried (each with its content-hash `version`). */
  readonly resources: readonly EncodedResource[];
  /** Delta: names the response removed. */
  readonly removed: readonly string[];
  /** performance.now() of the earliest push the response carried, if it carried one. */
  readonly pushStartedAt: number | undefined;
}

export interface NackEvent {
  readonly proxy: Proxy;
  readonly nack: NackRecord;
}

export interface XdsEvents {
  ack: [AckEvent];
  nack: [NackEvent];
}
