// Responses shared between streams. A response is a function of its protocol, its type and its
// resources (and removals, in delta), and the version names those (a digest of them), so streams
// sent the same version of a type can be sent the same bytes, nonce included: a nonce only has
// to tell one stream's responses apart, and one stream is never sent the same shared response
// twice in a row (XdsStream encodes a response of its own then). Without sharing, a route
// change at 1,000 proxies allocated and filled 1,000 copies of the same 168 KB route table
// before grpc-js copied each once more to frame it (BENCHMARKS.md): an eighth of the control
// plane's CPU, and the garbage collector's work after it.

export interface SharedResponse {
  readonly nonce: string;
  readonly buf: Buffer;
}

interface Entry extends SharedResponse {
  usedAt: number;
}

/**
 * Least recently used first out, bounded by the bytes held and by age: a push's streams ask
 * within seconds of each other, and what no stream asked for in `maxIdleMs` is let go. (A
 * response only one proxy gets, its own listeners, is held until then too.)
 */
export class SharedResponses {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private seq = 0;

  constructor(
    /** Tells this process's nonces from an earlier one's (stream.ts's BOOT). */
    private readonly noncePrefix: string,
    private readonly maxBytes = 32 * 2 ** 20,
    private readonly maxIdleMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The response for this type (with its protocol) and version, encoded by `encode` with a nonce of its own if none is held. */
  get(typeUrl: string, version: string, encode: (nonce: string) => Buffer): SharedResponse {
    const now = this.now();
    const key = `${typeUrl} ${version}`;
    const found = this.entries.get(key);
    if (found) {
      this.entries.delete(key);
      found.usedAt = now;
      this.entries.set(key, found);
      return found;
    }
    const nonce = `${this.noncePrefix}-s${++this.seq}`;
    const made: Entry = { nonce, buf: encode(nonce), usedAt: now };
    if (made.buf.length <= this.maxBytes) {
      this.entries.set(key, made);
      this.bytes += made.buf.length;
    }
    for (const [k, e] of this.entries) {
      if (this.bytes <= this.maxBytes && e.usedAt >= now - this.maxIdleMs) break;
      this.entries.delete(k);
      this.bytes -= e.buf.length;
    }
    return made;
  }

  /** Bytes held (for tests and metrics). */
  get size(): number {
    return this.bytes;
  }
}
