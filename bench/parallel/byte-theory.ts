// The bytes one rank of a dp × tp × pp grid should write in one optimizer step (payload only: frame headers are
// the measured overhead), pure. With N = dp, t = tp, p = pp, m micro-batches per data-parallel rank of r rows,
// a = r·T·d floats (one micro-batch's activation), L_s blocks on this rank's stage, AR_k(x) = 2(k−1)/k · x · 4 bytes
// (ring all-reduce over k ranks):
//   DP:         AR_N(Ψ_local + 2)                        (the summed gradients, the loss and the micro-batch count)
//   TP:         m · [4·L_s·AR_t(a)                        (per block: 2 forward g, 2 backward f)
//                    + first stage: AR_t(a)               (the vocabulary-parallel embedding's forward g)
//                    + last stage:  AR_t(a) + (t−1)·3·r·T·4]  (the head's backward f; the parallel cross-entropy's
//                                                          all-gather of max, sum of exponentials and target logit)
//   PP:         m · a · 4 · ([stage < p−1] + [stage > 0])  (activation forward, gradient backward, per boundary)
//   embedding:  AR_2(V_local·d) on the first and last stage when p > 1 and the embedding is tied
//   stats:      2 · (M−1) · 8 with M = t·p > 1            (the loss sum and the squared norm, all-gathered as float64
//                                                          over the model group)
import type { ParallelDegrees, RankCoords } from "../../trainer/src/parallel/layout.js";
import type { StageShard } from "../../trainer/src/parallel/partition.js";
import type { ModelConfig } from "../../trainer/src/model/model-config.js";

export interface StepShape {
  /** Micro-batches per data-parallel rank per step. */
  micros: number;
  /** Rows per micro-batch. */
  rows: number;
  seqLen: number;
}

export interface ByteTheory {
  dp: number;
  tp: number;
  pp: number;
  embedding: number;
  stats: number;
  total: number;
}

const F32 = 4;
/** Bytes one rank sends in a ring all-reduce of `floats` over `k` ranks. */
export const ringAllReduceBytes = (k: number, floats: number): number => (k <= 1 ? 0 : ((2 * (k - 1)) / k) * floats * F32);

/**
 * `shard` is the rank's stage shard (undefined for a plain data-parallel trainer, which has no model group);
 * `localParams` the floats it trains (Ψ_local).
 */
export function stepBytes(config: ModelConfig, d: ParallelDegrees, c: RankCoords, shape: StepShape, shard: StageShard | undefined, localParams: number): ByteTheory {
  const act = shape.rows * shape.seqLen * config.dModel;
  const dp = ringAllReduceBytes(d.dp, localParams + 2);
  let tp = 0;
  let pp = 0;
  let embedding = 0;
  let stats = 0;
  if (shard !== undefined) {
    const blocks = shard.layers[1] - shard.layers[0];
    if (d.tp > 1) {
      let perMicro = 4 * blocks * ringAllReduceBytes(d.tp, act);
      if (shard.first) perMicro += ringAllReduceBytes(d.tp, act);
      if (shard.last) perMicro += ringAllReduceBytes(d.tp, act) + (d.tp - 1) * 3 * shape.rows * shape.seqLen * F32;
      tp = shape.micros * perMicro;
    }
    if (d.pp > 1) {
      pp = shape.micros * act * F32 * ((c.pp < d.pp - 1 ? 1 : 0) + (c.pp > 0 ? 1 : 0));
      if (config.tieEmbeddings && (shard.first || shard.last)) embedding = ringAllReduceBytes(2, (shard.vocab[1] - shard.vocab[0]) * config.dModel);
    }
    const model = d.tp * d.pp;
    if (model > 1) stats = 2 * (model - 1) * 8;
  }
  return { dp, tp, pp, embedding, stats, total: dp + tp + pp + embedding + stats };
}
