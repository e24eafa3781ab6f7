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

/** The world of one rank: every collective is the identity. */
export class SoloCollective implements Collective {
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
  barrier(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
