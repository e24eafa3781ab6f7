// After the reduce-scatter each rank holds only its shard of the summed gradient (and maybe the loss slots), so the
// step's loss, micro-batch count and global gradient norm are put together from one small all-gather: each rank's
// float64 sum of squares over its shard (in flat order), and the stat slots it owns. Partial sums are added in flat
// order of the shards; against plain DP's single sequential float64 sum that differs only in float64 rounding.
import type { Collective, Range } from "../collective/collective.js";
import { allGatherFloat64 } from "../collective/float64-gather.js";
import type { FlatLayout } from "./shard-layout.js";

export interface ReducedStats {
  /** Sum over ranks and micro-batches of each micro-batch's mean loss. */
  lossSum: number;
  /** Micro-batches the world ran. */
  count: number;
  /** Sum of squares of the summed gradient (unscaled), over every parameter. */
  sumSquares: number;
}

const RECORD = 5; // sumSquares, ownsLoss, loss, ownsCount, count

/** Local part: `shard` holds slots [base, base + shard.length); `own` is this rank's owned range. */
export function shardRecord(layout: FlatLayout, shard: Float32Array, base: number, own: Range, normWeights?: readonly number[]): Float64Array {
  const rec = new Float64Array(RECORD);
  let sum = 0;
  // In flat order, tensor by tensor; a model-parallel rank counts only the tensors its copy stands for (normWeights 1).
  layout.tensors.forEach((t, k) => {
    if (normWeights?.[k] === 0) return;
    for (let i = Math.max(own[0], t.offset); i < Math.min(own[1], t.offset + t.size); i++) {
      const g = shard[i - base] as number;
      sum += g * g;
    }
  });
  rec[0] = sum;
  const lossAt = layout.params;
  if (lossAt >= own[0] && lossAt < own[1]) [rec[1], rec[2]] = [1, shard[lossAt - base] as number];
  if (lossAt + 1 >= own[0] && lossAt + 1 < own[1]) [rec[3], rec[4]] = [1, shard[lossAt + 1 - base] as number];
  return rec;
}

/** Combines every rank's record; `owned` orders the partial sums by where their shards start. */
export function combineRecords(records: readonly Float64Array[], owned: readonly Range[]): ReducedStats {
  const order = owned.map((r, rank) => ({ start: r[0], rank })).sort((a, b) => a.start - b.start);
  let sumSquares = 0;
  let lossSum = NaN;
  let count = NaN;
  for (const { rank } of order) {
    const rec = records[rank] as Float64Array;
    sumSquares += rec[0] as number;
    if (rec[1] === 1) lossSum = rec[2] as number;
    if (rec[3] === 1) count = rec[4] as number;
  }
  return { lossSum, count, sumSquares };
}

export async function reduceStats(collective: Collective, layout: FlatLayout, shard: Float32Array, base: number, owned: readonly Range[], normWeights?: readonly number[]): Promise<ReducedStats> {
  const own = owned[collective.rank] as Range;
  const records = await allGatherFloat64(collective, shardRecord(layout, shard, base, own, normWeights));
  return combineRecords(records, owned);
}
