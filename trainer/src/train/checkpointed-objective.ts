// Full-model objectives that trade compute for activation memory (gradient checkpointing).
//   full:      keep only each block's input; in backward recompute the block and take its gradients with tf.grads.
//   selective: tape everything but the attention core, whose scores and probabilities are recomputed in backward.
// Both give the same loss and gradients as fullModelObjective.
import * as tf from "@tensorflow/tfjs-core";
import type { ForwardOptions } from "../model/gpt.js";
import type { ModelConfig } from "../model/model-config.js";
import { blockForward, blockGrads, embedForward, embedGrads, headGrads, modelPieces, tiedWteGrad } from "./block-backward.js";
import { batchTensors, fullModelObjective, type LossAndGrads, type Objective } from "./objective.js";
import type { MicroBatch } from "./micro-batches.js";

export type GradientCheckpointing = "none" | "full" | "selective";

export function selectiveRecomputeObjective(config: ModelConfig): Objective {
  const base = fullModelObjective(config);
  return { ...base, gradients: (trainable, mb, opts) => base.gradients(trainable, mb, { ...opts, recomputeAttention: true }) };
}

export function fullRecomputeObjective(config: ModelConfig): Objective {
  const base = fullModelObjective(config);
  const pieces = modelPieces(config);
  const gradients = (trainable: readonly tf.Tensor[], mb: MicroBatch, opts: ForwardOptions): LossAndGrads => {
    const take = (idx: readonly number[]) => idx.map((i) => trainable[i] as tf.Tensor);
    const { inputs, targets } = batchTensors(mb);
    // Block inputs only: every block's inner activations are freed by its tidy.
    const xs: tf.Tensor3D[] = [tf.tidy(() => embedForward(config, take(pieces.embed), inputs, opts))];
    pieces.blocks.forEach((idx, layer) => xs.push(tf.tidy(() => blockForward(config, layer, take(idx), xs[layer] as tf.Tensor3D, opts))));
    const grads: tf.Tensor[] = new Array<tf.Tensor>(trainable.length);
    const h = headGrads(config, take(pieces.final), trainable[pieces.wte], xs[config.layers] as tf.Tensor3D, targets);
    pieces.final.forEach((i, j) => (grads[i] = h.dFinal[j] as tf.Tensor));
    tf.dispose(xs.pop());
    let dy = h.dx;
    for (let layer = config.layers - 1; layer >= 0; layer--) {
      const idx = pieces.blocks[layer] as number[];
      const [dx, ...dw] = blockGrads(config, layer, take(idx), xs[layer] as tf.Tensor3D, dy, opts) as [tf.Tensor3D, ...tf.Tensor[]];
      idx.forEach((i, j) => (grads[i] = dw[j] as tf.Tensor));
      tf.dispose([dy, xs.pop() as tf.Tensor]);
      dy = dx;
    }
    const de = embedGrads(config, take(pieces.embed), inputs, dy, opts);
    tf.dispose(dy);
    pieces.embed.forEach((i, j) => (grads[i] = de[j] as tf.Tensor));
    if (h.dWte !== undefined) {
      grads[pieces.wte] = tiedWteGrad(h.dWte, de[0] as tf.Tensor);
      tf.dispose([h.dWte, de[0] as tf.Tensor]);
    }
    return { value: h.value, grads };
  };
  return { ...base, gradients };
}

/** The Objective for a checkpointing mode: none is fullModelObjective itself (plain DP stays bitwise unchanged). */
export function checkpointedObjective(config: ModelConfig, mode: GradientCheckpointing): Objective {
  if (mode === "full") return fullRecomputeObjective(config);
  if (mode === "selective") return selectiveRecomputeObjective(config);
  return fullModelObjective(config);
}
