// Shards held in memory within a byte budget, least recently used evicted first. Loads in flight are shared, so a
// shard is fetched once however many samples ask for it. Shards the current batch needs are pinned and never
// evicted: the budget can be exceeded by one batch's working set rather than deadlock (Streaming #417).

export interface CacheEntry<T> {
  value: T;
  bytes: number;
}

export class ShardCache<T> {
  private readonly ready = new Map<number, CacheEntry<T>>();
  private readonly loading = new Map<number, Promise<CacheEntry<T>>>();
  private readonly pins = new Map<number, number>();
  /** Shards the reader needs soon (its current and look-ahead windows): a prefetch never evicts them. */
  private retained = new Set<number>();
  private heldBytes = 0;

  constructor(
    readonly budgetBytes: number,
    private readonly load: (shard: number) => Promise<CacheEntry<T>>,
  ) {}

  get bytes(): number {
    return this.heldBytes;
  }

  get inFlight(): number {
    return this.loading.size;
  }

  has(shard: number): boolean {
    return this.ready.has(shard) || this.loading.has(shard);
  }

  /** The shard, loading it if needed; pinned until `release`. */
  async acquire(shard: number): Promise<T> {
    this.pins.set(shard, (this.pins.get(shard) ?? 0) + 1);
    try {
      return (await this.fetch(shard)).value;
    } catch (err) {
      this.release(shard);
      throw err;
    }
  }

  release(shard: number): void {
    const n = (this.pins.get(shard) ?? 0) - 1;
    if (n <= 0) this.pins.delete(shard);
    else this.pins.set(shard, n);
    this.evict();
  }

  /** Replaces the set of shards that eviction must keep while it can. */
  retain(shards: Iterable<number>): void {
    this.retained = new Set(shards);
  }

  /** Starts loading `shard` in the background if the budget has room; failures surface on the later acquire. */
  prefetch(shard: number, expectedBytes: number): boolean {
    if (this.has(shard)) return true;
    if (this.heldBytes + this.loadingBytes + expectedBytes > this.budgetBytes) {
      this.evictSpare(this.loadingBytes + expectedBytes);
      if (this.heldBytes + this.loadingBytes + expectedBytes > this.budgetBytes) return false;
    }
    this.expected.set(shard, expectedBytes);
    this.fetch(shard).catch(() => undefined);
    return true;
  }

  private readonly expected = new Map<number, number>();
  private get loadingBytes(): number {
    let n = 0;
    for (const shard of this.loading.keys()) n += this.expected.get(shard) ?? 0;
    return n;
  }

  private fetch(shard: number): Promise<CacheEntry<T>> {
    const hit = this.ready.get(shard);
    if (hit !== undefined) {
      // Re-insert to mark it most recently used (Map keeps insertion order).
      this.ready.delete(shard);
      this.ready.set(shard, hit);
      return Promise.resolve(hit);
    }
    const pending = this.loading.get(shard);
    if (pending !== undefined) return pending;
    const p = this.load(shard).then(
      (entry) => {
        this.loading.delete(shard);
        this.expected.delete(shard);
        this.ready.set(shard, entry);
        this.heldBytes += entry.bytes;
        this.evict();
        return entry;
      },
      (err: unknown) => {
        this.loading.delete(shard);
        this.expected.delete(shard);
        throw err;
      },
    );
    this.loading.set(shard, p);
    return p;
  }

  /** Evicts only unpinned, unretained shards: a speculative load must not push out what is needed sooner. */
  private evictSpare(room: number): void {
    for (const [shard, entry] of this.ready) {
      if (this.heldBytes + room <= this.budgetBytes) return;
      if (this.pins.has(shard) || this.retained.has(shard)) continue;
      this.ready.delete(shard);
      this.heldBytes -= entry.bytes;
    }
  }

  private evict(room = 0): void {
    // Shards nobody asked to keep go first, least recently used first; retained ones only when nothing else is left.
    for (const spareRetained of [true, false]) {
      for (const [shard, entry] of this.ready) {
        if (this.heldBytes + room <= this.budgetBytes) return;
        if (this.pins.has(shard) || (spareRetained && this.retained.has(shard))) continue;
        this.ready.delete(shard);
        this.heldBytes -= entry.bytes;
      }
    }
  }
}
