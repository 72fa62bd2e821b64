// The xDS server's input: what each proxy should have. Kubernetes and Istio types stay out;
// translate/ implements this from the model.
import type { ProxyInfo } from './proxy-info.js';
import type { ResourceOf, TypeUrl } from './types.js';

/** The resources of one type for one proxy, by resource name. */
export type ResourceMap<T extends TypeUrl> = ReadonlyMap<string, ResourceOf[T]>;

/**
 * The resources of the requested types. A requested type left out means "none of this type";
 * a type that was not requested is ignored. Return the same (unmodified) object for an
 * unchanged resource and it is not even re-encoded; equal content is shared either way. The
 * same goes for a whole map: proxies handed the same map object share its encoded form, so a
 * map, like a resource, must not be modified once returned.
 */
export type Snapshot = { readonly [T in TypeUrl]?: ResourceMap<T> };

export interface SnapshotProvider {
  /**
   * The resources of `types` that `proxy` should have. Called when the proxy connects (all
   * types) and on every push that concerns it. Throwing (or rejecting) keeps the proxy on what
   * it has.
   */
  snapshot(proxy: ProxyInfo, types: ReadonlySet<TypeUrl>): Snapshot | Promise<Snapshot>;
}

/** A provider serving fixed resources to every proxy; `set` replaces them (tests, benchmarks). */
export class StaticSnapshotProvider implements SnapshotProvider {
  private current: Snapshot;

  constructor(initial: Snapshot = {}) {
    this.current = initial;
  }

  set(next: Snapshot): void {
    this.current = next;
  }

  update(patch: Snapshot): void {
    this.current = { ...this.current, ...patch };
  }

  get(): Snapshot {
    return this.current;
  }

  snapshot(_proxy: ProxyInfo, types: ReadonlySet<TypeUrl>): Snapshot {
    const out: Record<string, unknown> = {};
    for (const t of types) if (this.current[t]) out[t] = this.current[t];
    return out as Snapshot;
  }
}
