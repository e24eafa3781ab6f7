// What the trainer benchmarks build their runs from: a model config with the benches' fixed choices, a one-step
// TrainConfig (AdamW, constant learning rate) and deterministic synthetic token rows. The values are the ones each
// bench used before they were shared, so figures stay comparable with earlier runs.
import type { ModelConfig } from "../trainer/src/model/model-config.js";
import type { AdamWHyper } from "../trainer/src/optim/adamw.js";
import type { LrSchedule } from "../trainer/src/optim/lr-schedule.js";
import type { TrainConfig } from "../trainer/src/train/train-config.js";

type Shape = Pick<ModelConfig, "vocabSize" | "contextLength" | "layers" | "dModel" | "heads" | "hidden">;

/** GELU, no dropout, learned positions, tied embeddings and full multi-head attention unless `shape` says otherwise. */
export function benchModel(shape: Shape & Partial<ModelConfig>): ModelConfig {
  return { kvHeads: shape.heads, activation: "gelu", dropout: 0, positionalEncoding: "learned", tieEmbeddings: true, ...shape };
}

export const BENCH_ADAMW: AdamWHyper = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

/** Learning rate 1e-3 throughout (after `warmupSteps`): step times do not depend on it. */
export const constantLr = (totalSteps: number, warmupSteps = 0): LrSchedule => ({ type: "constant", peakLr: 1e-3, warmupSteps, minLrRatio: 1, totalSteps });

/** Each step is one micro-batch of `batch` rows, clipped at norm 1, seed 1; `over` replaces whole fields. */
export function benchTrainConfig(model: ModelConfig, batch: number, over: Partial<TrainConfig> = {}): TrainConfig {
  return { model, optimizer: BENCH_ADAMW, schedule: constantLr(1000), globalBatchSize: batch, microBatchSize: batch, gradClipNorm: 1, seed: 1, ...over };
}

/** `n` rows of `seqLen + 1` tokens below `vocab`; `offset` shifts every token (another batch, same shape). */
export function syntheticRows(n: number, seqLen: number, vocab: number, offset = 0): Int32Array[] {
  return Array.from({ length: n }, (_, r) => Int32Array.from({ length: seqLen + 1 }, (_, j) => (offset + r * 7919 + j * 104729) % vocab));
}
