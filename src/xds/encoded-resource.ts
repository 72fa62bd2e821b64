// One xDS resource serialised once: its bytes, wrapped as a google.protobuf.Any (for
// state-of-the-world responses) and as a discovery Resource (for delta responses), shared by
// every stream and proxy that receives this content.
import { createHash } from 'node:crypto';
import protobuf from 'protobufjs';

export class EncodedResource {
  /** The content hash; also the resource's version in delta responses. */
  readonly version: string;
  /** The encoded `google.protobuf.Any` (type_url = typeUrl, value = the message bytes). */
  readonly any: Uint8Array;
  private delta: Uint8Array | undefined;
  private entry: readonly [number, number] | undefined;

  constructor(
    readonly typeUrl: string,
    readonly name: string,
    readonly value: Uint8Array,
  ) {
    this.version = contentHash(typeUrl, value);
    const w = protobuf.Writer.create();
    w.uint32((1 << 3) | 2).string(typeUrl);
    w.uint32((2 << 3) | 2).bytes(value);
    this.any = w.finish();
  }

  /** 64 bits of a hash of name and version, as two uint32s: this resource's share of a setVersion. */
  get entryDigest(): readonly [number, number] {
    if (!this.entry) {
      const d = createHash('sha256').update(this.name).update('\u0000').update(this.version).digest();
      this.entry = [d.readUInt32BE(0), d.readUInt32BE(4)];
    }
    return this.entry;
  }

  /** The encoded `envoy.service.discovery.v3.Resource` (name, version, resource), built once. */
  get deltaResource(): Uint8Array {
    if (!this.delta) {
      const w = protobuf.Writer.create();
      w.uint32((1 << 3) | 2).string(this.version); // version = 1
      w.uint32((2 << 3) | 2).bytes(this.any); // resource = 2
      w.uint32((3 << 3) | 2).string(this.name); // name = 3
      this.delta = w.finish();
    }
    return this.delta;
  }
}

export function contentHash(typeUrl: string, bytes: Uint8Array): string {
  return createHash('sha256').update(typeUrl).update(bytes).digest('base64url').slice(0, 16);
}

/**
 * A short, order-independent digest of a set of resources: a state-of-the-world version. It adds
 * up each resource's entry digest (of its name and content hash, computed once per resource),
 * so a push re-hashes nothing: a response of N unchanged resources costs N additions.
 */
export function setVersion(resources: Iterable<EncodedResource>): string {
  let count = 0;
  let hi = 0;
  let lo = 0;
  for (const r of resources) {
    const [h, l] = r.entryDigest;
    hi = (hi + h) >>> 0;
    lo = (lo + l) >>> 0;
    count++;
  }
  return `${count.toString(36)}.${hi.toString(36)}${lo.toString(36).padStart(7, '0')}`;
}
