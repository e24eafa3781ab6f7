// The logit-distillation loss (Hinton et al. 2015): α·CE(student, labels) + (1−α)·T²·KL(p_T ‖ q_T), where p_T and q_T
// are the teacher's and the student's softmax at temperature T. The T² keeps the soft term's gradient on the same
// scale as the hard term's when T changes (the soft gradients shrink as 1/T²).
import * as tf from "@tensorflow/tfjs-core";
import { crossEntropy } from "../model/gpt.js";
import { ConfigError } from "../runtime/run-config.js";

export interface DistillLossOptions {
  /** Weight of the hard-label cross-entropy, in [0, 1]; 1 − alpha weights the T²·KL term. */
  alpha: number;
  /** Softmax temperature, > 0. */
  temperature: number;
}

export interface DistillLossParts {
  loss: tf.Scalar;
  /** Mean next-token cross-entropy of the student against the labels. */
  ce: tf.Scalar;
  /** Mean over tokens of KL(softmax(teacher/T) ‖ softmax(student/T)), before the T² factor. */
  kl: tf.Scalar;
}

/** alpha or temperature out of range. A ConfigError: the job's spec is wrong (exit 2). */
export class DistillConfigError extends ConfigError {
  constructor(
    readonly field: "alpha" | "temperature",
    readonly value: number,
    reason: string,
  ) {
    super(`distillation.${field}: ${reason}, got ${value}`);
    this.name = "DistillConfigError";
  }
}

export function checkDistillOptions(opts: DistillLossOptions): DistillLossOptions {
  if (!(opts.alpha >= 0 && opts.alpha <= 1)) throw new DistillConfigError("alpha", opts.alpha, "must be in [0, 1]");
  if (!(opts.temperature > 0 && Number.isFinite(opts.temperature))) throw new DistillConfigError("temperature", opts.temperature, "must be a finite number > 0");
  return opts;
}

/** Mean over rows of KL(softmax(teacher/T) ‖ softmax(student/T)) for logits [..., vocab] of equal shape. */
export function softTargetKl(teacherLogits: tf.Tensor, studentLogits: tf.Tensor, temperature: number): tf.Scalar {
  const vocab = studentLogits.shape[studentLogits.shape.length - 1] ?? 0;
  const logP = tf.logSoftmax(tf.reshape(tf.div(teacherLogits, temperature), [-1, vocab]), -1);
  const logQ = tf.logSoftmax(tf.reshape(tf.div(studentLogits, temperature), [-1, vocab]), -1);
  return tf.mean(tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, logQ)), -1)) as tf.Scalar;
}

/**
 * The combined loss alone, building only the terms whose weight is not 0: at α = 1 it is the cross-entropy itself
 * (plain training, so no teacher logits are needed: pass undefined), at α = 0 the labels are never touched.
 */
export function distillationLossValue(studentLogits: tf.Tensor, teacherLogits: tf.Tensor | undefined, targets: tf.Tensor, opts: DistillLossOptions): tf.Scalar {
  const t = opts.temperature;
  if (opts.alpha === 1) return crossEntropy(studentLogits, targets);
  if (teacherLogits === undefined) throw new DistillConfigError("alpha", opts.alpha, "the soft term needs the teacher's logits (only alpha = 1 goes without)");
  const soft = tf.mul(softTargetKl(teacherLogits, studentLogits, t), (1 - opts.alpha) * t * t) as tf.Scalar;
  return opts.alpha === 0 ? soft : (tf.add(tf.mul(crossEntropy(studentLogits, targets), opts.alpha), soft) as tf.Scalar);
}

/** The combined loss and both its parts, each built whatever α is (for tests and logs; training uses distillationLossValue). */
export function distillationLoss(studentLogits: tf.Tensor, teacherLogits: tf.Tensor, targets: tf.Tensor, opts: DistillLossOptions): DistillLossParts {
  return {
    loss: distillationLossValue(studentLogits, teacherLogits, targets, opts),
    ce: crossEntropy(studentLogits, targets),
    kl: softTargetKl(teacherLogits, studentLogits, opts.temperature),
  };
}
