// The Objective of a PEFT job: the base model's weights are plain frozen tensors held here, never passed to the tape,
// so gradients, the all-reduce, the optimizer and checkpoints carry only the adapters.
import * as tf from "@tensorflow/tfjs-core";
import type { NamedArray } from "../checkpoint/named-array.js";
import { crossEntropy, forward, type ForwardOptions } from "../model/gpt.js";
import { structureWeights, type GptWeights } from "../model/gpt-weights.js";
import type { ModelConfig } from "../model/model-config.js";
import { importParams } from "../model/param-io.js";
import { batchTensors, tapeGradients, type Objective } from "../train/objective.js";
import type { MicroBatch } from "../train/micro-batches.js";
import { attachPeft } from "./attach-peft.js";
import type { PeftConfig } from "./peft-config.js";
import { initPeftParams, peftLayout } from "./peft-layout.js";

export interface PeftObjective extends Objective {
  readonly peft: PeftConfig;
  /** The frozen base, structured: read by tests and the merge, never updated. */
  readonly base: GptWeights;
  /** The base as flat tensors, in paramLayout order. */
  readonly baseTensors: readonly tf.Tensor[];
  /** Frees the base tensors. */
  dispose(): void;
}

/** `base`: the pretrained model's parameters (NamedArray, any order; checked by name and shape against the layout). */
export function peftObjective(config: ModelConfig, peft: PeftConfig, base: readonly NamedArray[]): PeftObjective {
  const baseTensors = importParams(config, base);
  const baseWeights = structureWeights(config, baseTensors);
  const lossOn = (trainable: readonly tf.Tensor[], mb: MicroBatch, opts: ForwardOptions): tf.Scalar => {
    const { inputs, targets } = batchTensors(mb);
    return crossEntropy(forward(config, attachPeft(config, peft, baseWeights, trainable), inputs, opts), targets);
  };
  return {
    peft,
    base: baseWeights,
    baseTensors,
    trainable: peftLayout(config, peft),
    init: (seed) => initPeftParams(config, peft, seed),
    gradients: (trainable, mb, opts) => tapeGradients((...flat) => lossOn(flat, mb, opts), trainable),
    evalLoss: (trainable, mb) => lossOn(trainable, mb, {}),
    dispose: () => tf.dispose([...baseTensors]),
  };
}
