// Logit distillation as an Objective: the student's parameters are the trainable tensors; in the same step the frozen
// teacher runs forward on the same micro-batch outside the gradient tape, so it costs one forward pass and no
// gradients, activations kept for backward or optimizer state. Validation reports the student's plain cross-entropy,
// so its curve is comparable with a run trained on labels alone.
import type * as tf from "@tensorflow/tfjs-core";
import type { TokenizerName } from "@gantry/crds";
import type { NamedArray } from "../checkpoint/named-array.js";
import { crossEntropy, forward, type ForwardOptions } from "../model/gpt.js";
import { structureWeights } from "../model/gpt-weights.js";
import { initParams } from "../model/init-params.js";
import type { ModelConfig } from "../model/model-config.js";
import { paramLayout, type ParamSpec } from "../model/param-layout.js";
import type { MicroBatch } from "../train/micro-batches.js";
import { batchTensors, tapeGradients, type Objective } from "../train/objective.js";
import { checkDistillOptions, distillationLoss, distillationLossValue, type DistillLossOptions, type DistillLossParts } from "./distill-loss.js";
import { checkTeacherCompatible, type Teacher } from "./teacher.js";

/** What is distilled into: its trainable tensors and its logits as a function of them. */
export interface StudentModel {
  readonly config: ModelConfig;
  readonly tokenizer?: TokenizerName;
  readonly trainable: readonly ParamSpec[];
  init(seed: number): NamedArray[];
  logits(trainable: readonly tf.Tensor[], tokens: tf.Tensor2D, opts: ForwardOptions): tf.Tensor3D;
}

/** Every parameter of a GPT of `config` is trainable (a LoRA student would supply its own StudentModel). */
export function fullModelStudent(config: ModelConfig, tokenizer?: TokenizerName): StudentModel {
  return {
    config,
    ...(tokenizer === undefined ? {} : { tokenizer }),
    trainable: paramLayout(config),
    init: (seed) => initParams(config, seed),
    logits: (flat, tokens, opts) => forward(config, structureWeights(config, flat), tokens, opts),
  };
}

export interface DistillationObjective extends Objective {
  readonly options: DistillLossOptions;
  /** The loss and its CE and KL parts on one micro-batch, without gradients or dropout (for tests and logs). */
  parts(trainable: readonly tf.Tensor[], mb: MicroBatch): DistillLossParts;
}

/**
 * α·CE + (1−α)·T²·KL(teacher ‖ student). Throws TeacherMismatchError when teacher and student do not share a
 * tokenizer and vocabulary, and DistillConfigError for α or T out of range.
 */
export function distillationObjective(student: StudentModel, teacher: Teacher, options: DistillLossOptions): DistillationObjective {
  checkDistillOptions(options);
  checkTeacherCompatible(
    { config: student.config, ...(student.tokenizer === undefined ? {} : { tokenizer: student.tokenizer }) },
    { config: teacher.config, ...(teacher.tokenizer === undefined ? {} : { tokenizer: teacher.tokenizer }) },
  );
  return {
    options,
    trainable: student.trainable,
    init: (seed) => student.init(seed),
    gradients: (trainable, mb, opts) => {
      const { inputs, targets } = batchTensors(mb);
      // Before the tape starts: no gradient flows into the teacher, and none of its activations are kept. At α = 1
      // the soft term has weight 0, so the teacher does not run at all.
      const teacherLogits = options.alpha === 1 ? undefined : teacher.logits(inputs);
      return tapeGradients((...flat) => distillationLossValue(student.logits(flat, inputs, opts), teacherLogits, targets, options), trainable);
    },
    evalLoss: (trainable, mb) => {
      const { inputs, targets } = batchTensors(mb);
      return crossEntropy(student.logits(trainable, inputs, {}), targets);
    },
    parts: (trainable, mb) => {
      const { inputs, targets } = batchTensors(mb);
      return distillationLoss(student.logits(trainable, inputs, {}), teacher.logits(inputs), targets, options);
    },
  };
}
