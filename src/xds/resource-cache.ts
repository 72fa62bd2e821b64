// Encodes resources once. A message object handed over again (translate memoises unchanged
// resources) is not encoded again; different objects with the same content end up sharing one
// EncodedResource, so N proxies receiving the same cluster hold and send the same bytes.
import { encodeMessage } from './protos.js';
import { EncodedResource } from './encoded-resource.js';
import { encodeBytes } from './metrics.js';
import { messageName, SHORT_NAME, type TypeUrl } from './types.js';

export class ResourceCache {
  private readonly byObject = new WeakMap<object, EncodedResource>();
  private readonly byVersion = new Map<string, WeakRef<EncodedResource>>();
  private readonly finalizer = new FinalizationRegistry<string>((key) => {
    const ref = this.byVersion.get(key);
    if (ref && !ref.deref()) this.byVersion.delete(key);
  });

  /**
   * The encoded form of `msg`, named `name`. Resource objects must not be mutated after they
   * are handed to the cache (the identity cache would keep serving the old bytes).
   * Throws if the message does not fit its type.
   */
  encode(typeUrl: TypeUrl, name: string, msg: object): EncodedResource {
    const known = this.byObject.get(msg);
    if (known && known.name === name && known.typeUrl === typeUrl) return known;
    const fresh = new EncodedResource(typeUrl, name, encodeMessage(messageName(typeUrl), msg));
    encodeBytes.inc({ type: SHORT_NAME[typeUrl] }, fresh.value.length);
    const key = `${typeUrl} ${name} ${fresh.version}`;
    const shared = this.byVersion.get(key)?.deref();
    const result = shared ?? fresh;
    if (!shared) {
      this.byVersion.set(key, new WeakRef(fresh));
      this.finalizer.register(fresh, key);
    }
    this.byObject.set(msg, result);
    return result;
  }

  /** How many distinct encoded resources are alive (for tests and metrics). */
  get size(): number {
    return this.byVersion.size;
  }
}
