// What a training step differentiates: the trainable tensors (in a fixed, named order) and the loss of a micro-batch
// as a function of them. The Trainer owns accumulation, gradient sync, clipping and the optimizer; an Objective owns
// the model. Full pre-training, adapters over a frozen base, distillation from a teacher and recomputing backwards
// are Objectives; the step loop stays one.
import * as tf from "@tensorflow/tfjs-core";
import type { NamedArray } from "../checkpoint/named-array.js";
import { crossEntropy, forward, type ForwardOptions } from "../model/gpt.js";
import { structureWeights } from "../model/gpt-weights.js";
import { initParams } from "../model/init-params.js";
import type { ModelConfig } from "../model/model-config.js";
import { paramLayout, type ParamSpec } from "../model/param-layout.js";
import { blockwiseGradients } from "./block-backward.js";
import type { MicroBatch } from "./micro-batches.js";

export interface LossAndGrads {
  value: tf.Scalar;
  /** One gradient per trainable tensor, in `trainable` order. */
  grads: tf.Tensor[];
}

export interface Objective {
  /** The tensors the optimizer updates, in checkpoint order. */
  readonly trainable: readonly ParamSpec[];
  /** Fresh trainable values for `seed` (a run with no checkpoint). */
  init(seed: number): NamedArray[];
  /** Training loss of one micro-batch and its gradients; intermediates are the caller's tf.tidy's to free. */
  gradients(trainable: readonly tf.Tensor[], mb: MicroBatch, opts: ForwardOptions): LossAndGrads;
  /** Mean next-token cross-entropy of one micro-batch, no gradients, no dropout: what validation reports. */
  evalLoss(trainable: readonly tf.Tensor[], mb: MicroBatch): tf.Scalar;
  /**
   * The same objective recomputing activations in backward (gradient checkpointing): full keeps only block inputs,
   * selective recomputes the attention core. Absent where the objective has no such variant.
   */
  recomputed?(mode: "full" | "selective"): Objective;
  /** Present on a tensor/pipeline-parallel objective, which runs whole steps instead of single micro-batches. */
  readonly parallel?: ModelParallelStep;
}

/**
 * A model-parallel rank's step (parallel/model-parallel-objective.ts): the pipeline schedule runs every micro-batch,
 * talking to the rank's tensor and pipeline peers, so the Trainer asks for a whole step at once.
 */
export interface ModelParallelStep {
  /** Summed gradients of this rank's tensors, and the sum of the micro-batches' mean losses (the same on every rank of the model group). */
  stepGradients(trainable: readonly tf.Tensor[], micro: readonly MicroBatch[], opts: (i: number) => ForwardOptions): Promise<{ grads: tf.Tensor[]; lossSum: number }>;
  /** Σ over micro-batches of rows × mean loss, no gradients, the same on every rank of the model group. */
  evalLossSum(trainable: readonly tf.Tensor[], micro: readonly MicroBatch[]): Promise<number>;
  /** Per trainable tensor: 1 when this rank's copy counts in the global gradient norm (replicas and the tied copy do not). */
  readonly normWeights: readonly number[];
  /** Sum of a per-rank number over the model group (the squared gradient norm). */
  sumOverModel(x: number): Promise<number>;
  /** The parameters with every replica (tensor-parallel copies, the tied embedding's copy) set from its primary. */
  syncReplicas(params: readonly tf.Tensor[]): Promise<tf.Tensor[]>;
}

/** The micro-batch's inputs, or targets, as a [rows, seqLen] int32 tensor. */
export const inputTensor = (mb: MicroBatch): tf.Tensor2D => tf.tensor2d(mb.inputs, [mb.rows, mb.seqLen], "int32");
export const targetTensor = (mb: MicroBatch): tf.Tensor2D => tf.tensor2d(mb.targets, [mb.rows, mb.seqLen], "int32");

/** The micro-batch as [rows, seqLen] int32 tensors. */
export function batchTensors(mb: MicroBatch): { inputs: tf.Tensor2D; targets: tf.Tensor2D } {
  return { inputs: inputTensor(mb), targets: targetTensor(mb) };
}

/** Gradients of a loss written over the trainable tensors, by tfjs's tape. */
export function tapeGradients(loss: (...trainable: tf.Tensor[]) => tf.Scalar, trainable: readonly tf.Tensor[]): LossAndGrads {
  return tf.valueAndGrads(loss)([...trainable]);
}

/** Every parameter of the model is trainable; the loss is next-token cross-entropy. */
export function fullModelObjective(config: ModelConfig): Objective {
  const lossOn = (flat: readonly tf.Tensor[], mb: MicroBatch, opts: ForwardOptions): tf.Scalar => {
    const { inputs, targets } = batchTensors(mb);
    return crossEntropy(forward(config, structureWeights(config, flat), inputs, opts), targets);
  };
  const gradients: Objective["gradients"] = (trainable, mb, opts) => tapeGradients((...flat) => lossOn(flat, mb, opts), trainable);
  const plain: Objective = {
    trainable: paramLayout(config),
    init: (seed) => initParams(config, seed),
    gradients,
    evalLoss: (trainable, mb) => lossOn(trainable, mb, {}),
  };
  return {
    ...plain,
    recomputed: (mode) => ({
      ...plain,
      gradients: mode === "full" ? blockwiseGradients(config) : (trainable, mb, opts) => gradients(trainable, mb, { ...opts, recomputeAttention: true }),
    }),
  };
}
