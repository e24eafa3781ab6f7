// Writes a model as a whole Gantry checkpoint (manifest with its shape and tokenizer), as a trainer run would: the
// starting point of the teacher, gantry-serve and gantry-factorize tests.
import { stateAt } from "@gantry/dataloader";
import type { TokenizerName } from "@gantry/crds";
import type { CheckpointStore } from "../../src/checkpoint/checkpoint-store.js";
import { CheckpointWriter, type CommittedCheckpoint } from "../../src/checkpoint/checkpoint-writer.js";
import type { NamedArray } from "../../src/checkpoint/named-array.js";
import type { ModelConfig } from "../../src/model/model-config.js";

const FP = "f".repeat(64);

export function writeModelCheckpoint(store: CheckpointStore, config: ModelConfig, weights: readonly NamedArray[], tokenizer: TokenizerName = "bytes", step = 10): Promise<CommittedCheckpoint> {
  const writer = new CheckpointWriter(store, { codeVersion: "test" });
  return writer.save({
    step,
    weights,
    optimizer: [],
    tokensSeen: step * 64,
    worldSize: 1,
    configHash: "test",
    datasetFingerprint: FP,
    dataState: stateAt(step, { jobUid: "job", attempt: 1, fingerprint: FP, seed: 1, samplesPerEpoch: 100, globalBatch: 4, worldSize: 1, contextLength: config.contextLength, anchor: { step: 0, consumedSamples: 0 } }),
    extra: { model: JSON.stringify(config), tokenizer },
  });
}
