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

/** A short, order-independent digest of a set of resources: a state-of-the-world version. */
export function setVersion(resources: Iterable<EncodedResource>): string {
  const list = [...resources];
  // A response of one resource (RDS, EDS pushes) is the common case: hash it once, not per proxy.
  const single = list.length === 1 ? list[0] : undefined;
  const known = single && singleVersions.get(single);
  if (known) return known;
  const versions = list.map((r) => `${r.name}\u0000${r.version}`).sort();
  const v = createHash('sha256').update(versions.join('\n')).digest('base64url').slice(0, 12);
  if (single) singleVersions.set(single, v);
  return v;
}

const singleVersions = new WeakMap<EncodedResource, string>();
