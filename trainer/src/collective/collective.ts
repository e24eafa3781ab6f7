// The collectives the training loop needs, over Float32Arrays. Every rank must call them in the same order with
// arrays of the same lengths; results are identical bytes on every rank.
export interface Collective {
  readonly rank: number;
  readonly worldSize: number;
  /** Sums each array across ranks, in place. Implementations may bucket the parts; the reduction order is fixed. */
  allReduceSum(parts: Float32Array[]): Promise<void>;
  /** Every rank's copy of `data`, indexed by rank. */
  allGather(data: Float32Array): Promise<Float32Array[]>;
  /** Overwrites `data` on every rank with root's copy. */
  broadcast(data: Float32Array, root: number): Promise<void>;
  barrier(): Promise<void>;
  close(): Promise<void>;
}

/** Elements [start, end) of a flat buffer. */
export type Range = readonly [start: number, end: number];

/**
 * The two halves of a ring all-reduce, exposed for ZeRO. `owned[r]` is the range rank r ends up owning; the ranges
 * are disjoint (together they need not cover the buffer: elements outside every range are left as they are).
 * Owner r's range is summed in the rank order r+1, r+2, …, r (mod worldSize): with owned[r] = the ring's chunk r+1,
 * that is exactly the order allReduceSum uses for a buffer that fits one bucket, so sharded steps equal plain DP's
 * bit for bit.
 */
export interface ShardCollective extends Collective {
  /** After it, data[owned[rank]] holds the sum over ranks; the rest of data holds partial sums (garbage to callers). */
  reduceScatterSum(data: Float32Array, owned: readonly Range[]): Promise<void>;
  /** Each rank's data[owned[rank]] is copied into every rank's data at the same place. */
  allGatherOwned(data: Float32Array, owned: readonly Range[]): Promise<void>;
}

export const hasShardOps = (c: Collective): c is ShardCollective =>
  typeof (c as Partial<ShardCollective>).reduceScatterSum === "function" && typeof (c as Partial<ShardCollective>).allGatherOwned === "function";

/** The world of one rank: every collective is the identity. */
export class SoloCollective implements ShardCollective {
  readonly rank = 0;
  readonly worldSize = 1;
  allReduceSum(): Promise<void> {
    return Promise.resolve();
  }
  allGather(data: Float32Array): Promise<Float32Array[]> {
    return Promise.resolve([data]);
  }
  broadcast(): Promise<void> {
    return Promise.resolve();
  }
  reduceScatterSum(): Promise<void> {
    return Promise.resolve();
  }
  allGatherOwned(): Promise<void> {
    return Promise.resolve();
  }
  barrier(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A world of one that records how many floats each all-reduce carries (what a step would put on the wire). */
export class CountingSoloCollective extends SoloCollective {
  readonly floats: number[] = [];
  override allReduceSum(parts: Float32Array[] = []): Promise<void> {
    this.floats.push(parts.reduce((n, p) => n + p.length, 0));
    return super.allReduceSum();
  }
}
