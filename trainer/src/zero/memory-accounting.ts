// Per-rank bytes of parameters, gradients and optimizer state under each ZeRO stage, fp32 (4 bytes a value), as a
// pure function of the layout, the stage and the world: the figures the ZeRO paper's table gives, with Adam's two
// moments (K = 8 bytes in fp32, no master copy) and this rank's exact shard instead of Ψ/N.
import type { Range } from "../collective/collective.js";
import { paramsIn, shardRanges, type FlatLayout } from "./shard-layout.js";

export type ZeroStage = 0 | 1 | 2 | 3;

export const BYTES_PER_VALUE = 4;
/** m and v. */
export const OPTIMIZER_VALUES_PER_PARAM = 2;

export interface MemoryBytes {
  params: number;
  grads: number;
  optimizer: number;
  total: number;
}

/** Parameters this rank owns a shard of (all of them without sharding). */
export function ownedParams(layout: FlatLayout, worldSize: number, rank: number): number {
  const owned = shardRanges(layout.slots, worldSize)[rank] as Range;
  return paramsIn(layout, owned);
}

/**
 * DP: 4Ψ + 4Ψ + 8Ψ. Stage 1 shards the optimizer state, stage 2 the gradients as well, stage 3 the parameters too:
 * the sharded terms become this rank's shard, ≈ Ψ/N.
 */
export function zeroMemory(layout: FlatLayout, stage: ZeroStage, worldSize: number, rank: number): MemoryBytes {
  const all = layout.params;
  const own = stage === 0 ? all : ownedParams(layout, worldSize, rank);
  const params = BYTES_PER_VALUE * (stage >= 3 ? own : all);
  const grads = BYTES_PER_VALUE * (stage >= 2 ? own : all);
  const optimizer = BYTES_PER_VALUE * OPTIMIZER_VALUES_PER_PARAM * (stage >= 1 ? own : all);
  return { params, grads, optimizer, total: params + grads + optimizer };
}
