// The sample order of one epoch, a pure function of (samples per shard, seed, epoch, window):
// shards in a seeded permutation, then samples shuffled within windows of `windowShards` consecutive shards,
// so a reader only ever needs the shards of its current window (bounded cache, sequential-ish downloads).
import { hashWords } from "./counter-hash.js";
import { FeistelPermutation } from "./feistel-permutation.js";

export interface OrderConfig {
  seed: number;
  shuffle: boolean;
  /** Shards whose samples are shuffled together; 1 keeps each shard's samples together. */
  windowShards: number;
}

export interface SampleLocation {
  /** Index into the manifest's shards. */
  shard: number;
  /** Packed sample within that shard. */
  sample: number;
}

// Domain separation for the two uses of the hash.
const SHARD_DOMAIN = 0x5348_4152;
const WINDOW_DOMAIN = 0x5749_4e44;

export class EpochOrder {
  readonly total: number;
  private readonly shardOrder: FeistelPermutation;
  /** starts[p] = samples before the shard at permuted position p; one extra closing entry. */
  private readonly starts: Float64Array;
  private readonly positions: number;

  constructor(
    private readonly samplesPerShard: readonly number[],
    readonly epoch: number,
    private readonly config: OrderConfig,
  ) {
    if (!Number.isInteger(config.windowShards) || config.windowShards < 1) throw new RangeError(`windowShards must be a positive integer, got ${config.windowShards}`);
    this.positions = samplesPerShard.length;
    this.shardOrder = new FeistelPermutation(this.positions, config.shuffle ? hashWords(SHARD_DOMAIN, config.seed, epoch) : 0);
    this.starts = new Float64Array(this.positions + 1);
    for (let p = 0; p < this.positions; p++) this.starts[p + 1] = (this.starts[p] ?? 0) + (samplesPerShard[this.shardAt(p)] ?? 0);
    this.total = this.starts[this.positions] ?? 0;
  }

  /** Manifest index of the shard at permuted position `p`. */
  shardAt(p: number): number {
    return this.config.shuffle ? this.shardOrder.at(p) : p;
  }

  /** Where the `i`-th sample of the epoch lives. */
  sampleAt(i: number): SampleLocation {
    if (!Number.isInteger(i) || i < 0 || i >= this.total) throw new RangeError(`epoch ${this.epoch} has ${this.total} samples, asked for ${i}`);
    if (!this.config.shuffle) {
      const p = this.positionOf(i);
      return { shard: this.shardAt(p), sample: i - (this.starts[p] ?? 0) };
    }
    const w = this.windowHolding(i);
    const absolute = w.start + w.perm.at(i - w.start);
    // The shard holding `absolute` lies in this window: a scan of its few positions, not a search of the epoch.
    let p = w.first;
    while (p + 1 < w.last && (this.starts[p + 1] ?? 0) <= absolute) p++;
    return { shard: this.shardAt(p), sample: absolute - (this.starts[p] ?? 0) };
  }

  private lastWindow: { window: number; first: number; last: number; start: number; end: number; perm: FeistelPermutation } | undefined;

  /** Consecutive samples mostly share a window, so the last window (its bounds and permutation) is kept rather than rebuilt. */
  private windowHolding(i: number): { first: number; last: number; start: number; end: number; perm: FeistelPermutation } {
    const hit = this.lastWindow;
    if (hit !== undefined && i >= hit.start && i < hit.end) return hit;
    const window = Math.floor(this.positionOf(i) / this.config.windowShards);
    const first = window * this.config.windowShards;
    const last = Math.min(first + this.config.windowShards, this.positions);
    const start = this.starts[first] ?? 0;
    const end = this.starts[last] ?? 0;
    this.lastWindow = { window, first, last, start, end, perm: new FeistelPermutation(end - start, hashWords(WINDOW_DOMAIN, this.config.seed, this.epoch, window)) };
    return this.lastWindow;
  }

  /** Windows in the epoch. */
  get windows(): number {
    return Math.ceil(this.positions / this.config.windowShards);
  }

  /** The window holding epoch sample `i`. */
  windowOf(i: number): number {
    return Math.floor(this.positionOf(i) / this.config.windowShards);
  }

  /** Manifest indices of the shards in window `w`; empty past the last window. */
  windowShardsAt(w: number): number[] {
    const first = w * this.config.windowShards;
    const out: number[] = [];
    for (let p = first; p < Math.min(first + this.config.windowShards, this.positions); p++) out.push(this.shardAt(p));
    return out;
  }

  /** Manifest indices of the shards in the window that holds epoch sample `i`, to prefetch. */
  windowShardsOf(i: number): number[] {
    return this.windowShardsAt(this.windowOf(i));
  }

  /** Manifest indices of the shards in the window after the one holding epoch sample `i`; empty for the last window. */
  nextWindowShards(i: number): number[] {
    return this.windowShardsAt(this.windowOf(i) + 1);
  }

  /** Permuted position of the shard holding ordered sample `i`: the last p with starts[p] <= i and a non-empty shard. */
  private positionOf(i: number): number {
    let lo = 0;
    let hi = this.positions - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.starts[mid] ?? 0) <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/** Sample order across epochs: global sample g is sample g mod total of epoch floor(g / total). */
export class GlobalOrder {
  // Two epochs: the current one and the next, which prefetch peeks into near an epoch's end.
  private readonly cached = new Map<number, EpochOrder>();
  readonly samplesPerEpoch: number;

  constructor(
    private readonly samplesPerShard: readonly number[],
    private readonly config: OrderConfig,
  ) {
    this.samplesPerEpoch = samplesPerShard.reduce((a, b) => a + b, 0);
    if (this.samplesPerEpoch === 0) throw new RangeError("the dataset has no complete sample at this context length");
  }

  epochOf(g: number): number {
    return Math.floor(g / this.samplesPerEpoch);
  }

  epoch(e: number): EpochOrder {
    let order = this.cached.get(e);
    if (order === undefined) {
      order = new EpochOrder(this.samplesPerShard, e, this.config);
      if (this.cached.size >= 2) for (const k of this.cached.keys()) if (k !== e - 1 && k !== e + 1) this.cached.delete(k);
      if (this.cached.size >= 2) this.cached.delete(Math.min(...this.cached.keys()));
      this.cached.set(e, order);
    }
    return order;
  }

  locate(g: number): SampleLocation & { epoch: number } {
    const epoch = this.epochOf(g);
    return { epoch, ...this.epoch(epoch).sampleAt(g - epoch * this.samplesPerEpoch) };
  }
}
