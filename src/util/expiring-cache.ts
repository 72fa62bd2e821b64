// A bounded map whose entries expire: least recently used entries go first when it is full.

export class ExpiringCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    if (e.expiresAt <= this.now()) return undefined;
    this.entries.set(key, e); // most recently used last
    return e.value;
  }

  set(key: string, value: V, expiresAt: number): void {
    if (this.maxEntries <= 0 || expiresAt <= this.now()) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  /** Whether a live entry is there (without counting as a use). */
  has(key: string): boolean {
    const e = this.entries.get(key);
    return !!e && e.expiresAt > this.now();
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
