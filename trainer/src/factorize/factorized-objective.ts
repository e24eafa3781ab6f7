// Training in factorized form: the trainable tensors are the factorized layout (U and V in place of each planned W),
// and the forward multiplies each pair out inside the tape, so gradients reach U and V and the optimizer holds
// r·(d_in + d_out) values per matrix instead of d_in·d_out. The product costs d_in·r·d_out per micro-batch; a forward
// that applies x·U·V directly would need the model's linear layers to know about factors.
import * as tf from "@tensorflow/tfjs-core";
import type { NamedArray } from "../checkpoint/named-array.js";
import { crossEntropy, forward, type ForwardOptions } from "../model/gpt.js";
import { structureWeights } from "../model/gpt-weights.js";
import { initParams } from "../model/init-params.js";
import type { ModelConfig } from "../model/model-config.js";
import { paramLayout } from "../model/param-layout.js";
import { batchTensors, tapeGradients, type Objective } from "../train/objective.js";
import type { MicroBatch } from "../train/micro-batches.js";
import { factorNames, factorizedLayout, type FactorPlan } from "./factorize-plan.js";
import { factorizeWeights } from "./factorize-weights.js";

/** The full parameter list (paramLayout order) from factorized tensors (factorizedLayout order), U·V multiplied in. */
export function denseTensors(config: ModelConfig, plan: FactorPlan, flat: readonly tf.Tensor[]): tf.Tensor[] {
  const layout = factorizedLayout(config, plan);
  const byName = new Map(layout.map((s, i) => [s.name, flat[i] as tf.Tensor]));
  const planned = new Set(plan.factors.map((f) => f.name));
  return paramLayout(config).map((spec) => {
    if (!planned.has(spec.name)) return byName.get(spec.name) as tf.Tensor;
    const names = factorNames(spec.name);
    return tf.matMul(byName.get(names.u) as tf.Tensor2D, byName.get(names.v) as tf.Tensor2D);
  });
}

/** Logits of the factorized model: [B, T] → [B, T, vocab]. */
export function factorizedForward(config: ModelConfig, plan: FactorPlan, flat: readonly tf.Tensor[], tokens: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor3D {
  return forward(config, structureWeights(config, denseTensors(config, plan, flat)), tokens, opts);
}

/**
 * Next-token cross-entropy over the factorized parameters. A run with no checkpoint starts from the SVD of the
 * seed's dense initialisation, so a factorized run and a dense one start from comparable weights.
 */
export function factorizedObjective(config: ModelConfig, plan: FactorPlan): Objective {
  const lossOn = (flat: readonly tf.Tensor[], mb: MicroBatch, opts: ForwardOptions): tf.Scalar => {
    const { inputs, targets } = batchTensors(mb);
    return crossEntropy(factorizedForward(config, plan, flat, inputs, opts), targets);
  };
  return {
    trainable: factorizedLayout(config, plan),
    init: (seed): NamedArray[] => factorizeWeights(config, initParams(config, seed), plan).weights,
    gradients: (trainable, mb, opts) => tapeGradients((...flat) => lossOn(flat, mb, opts), trainable),
    evalLoss: (trainable, mb) => lossOn(trainable, mb, {}),
  };
}
