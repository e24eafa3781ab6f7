// Small shapes shared by the trainer's unit tests: big enough to exercise every path, small enough for 2 cores.
import type { ModelConfig } from "../../src/model/model-config.js";
import type { TrainConfig } from "../../src/train/train-config.js";

export const TINY: ModelConfig = {
  vocabSize: 64,
  contextLength: 16,
  layers: 2,
  dModel: 32,
  heads: 4,
  kvHeads: 4,
  hidden: 128,
  activation: "gelu",
  dropout: 0,
  positionalEncoding: "learned",
  tieEmbeddings: true,
};

export function tinyTrain(overrides: Partial<TrainConfig> = {}, model: Partial<ModelConfig> = {}): TrainConfig {
  return {
    model: { ...TINY, ...model },
    optimizer: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 },
    schedule: { type: "cosine", peakLr: 3e-3, warmupSteps: 2, minLrRatio: 0.1, totalSteps: 100 },
    globalBatchSize: 4,
    microBatchSize: 2,
    gradClipNorm: 1,
    seed: 1337,
    ...overrides,
  };
}

/** `n` rows of contextLength + 1 tokens, a pure function of (seed, n). */
export function tokenRows(n: number, seqLen = TINY.contextLength, vocab = TINY.vocabSize, seed = 7): Int32Array[] {
  const rows: Int32Array[] = [];
  let x = seed >>> 0;
  for (let r = 0; r < n; r++) {
    const row = new Int32Array(seqLen + 1);
    for (let j = 0; j <= seqLen; j++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      row[j] = x % vocab;
    }
    rows.push(row);
  }
  return rows;
}
