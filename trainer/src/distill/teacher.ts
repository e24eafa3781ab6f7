// The frozen teacher of a distillation run: plain tensors (never trainable, never in the optimizer), run forward
// outside the gradient tape. It must read the same token ids as the student, or its soft targets mean nothing.
import type { TokenizerName } from "@gantry/crds";
import * as tf from "@tensorflow/tfjs-core";
import type { NamedArray } from "../checkpoint/named-array.js";
import { forward } from "../model/gpt.js";
import { structureWeights, type GptWeights } from "../model/gpt-weights.js";
import type { ModelConfig } from "../model/model-config.js";
import { importParams } from "../model/param-io.js";
import { ConfigError } from "../runtime/run-config.js";

export interface Teacher {
  readonly config: ModelConfig;
  /** The tokenizer the teacher was trained with, when known. */
  readonly tokenizer?: TokenizerName;
  readonly weights: GptWeights;
  /** logits [B, T, vocab] for tokens [B, T], no dropout. Call outside a gradient tape (or it is taped for nothing). */
  logits(tokens: tf.Tensor2D): tf.Tensor3D;
  dispose(): void;
}

/** Teacher and student cannot be paired. A ConfigError: the spec names the wrong teacher (exit 2). */
export class TeacherMismatchError extends ConfigError {
  constructor(
    readonly field: "tokenizer" | "vocabSize" | "contextLength",
    readonly teacherValue: string | number,
    readonly studentValue: string | number,
    hint: string,
  ) {
    super(`distillation teacher ${field} ${teacherValue} differs from the student's ${studentValue}: ${hint}`);
    this.name = "TeacherMismatchError";
  }
}

export interface TeacherSide {
  config: Pick<ModelConfig, "vocabSize" | "contextLength" | "positionalEncoding">;
  tokenizer?: TokenizerName;
}

/**
 * Throws TeacherMismatchError unless the teacher can supply soft targets for the student: the same tokenizer and
 * vocabulary (the KL is over token ids) and a context at least as long as the student's. Sizes may differ otherwise.
 */
export function checkTeacherCompatible(student: TeacherSide, teacher: TeacherSide): void {
  if (student.tokenizer !== undefined && teacher.tokenizer !== undefined && student.tokenizer !== teacher.tokenizer) {
    throw new TeacherMismatchError("tokenizer", teacher.tokenizer, student.tokenizer, "teacher and student must share a tokenizer");
  }
  if (student.config.vocabSize !== teacher.config.vocabSize) {
    throw new TeacherMismatchError("vocabSize", teacher.config.vocabSize, student.config.vocabSize, "teacher and student must share a tokenizer and its vocabulary size (set model.vocabSize to the teacher's)");
  }
  if (teacher.config.positionalEncoding === "learned" && teacher.config.contextLength < student.config.contextLength) {
    throw new TeacherMismatchError("contextLength", teacher.config.contextLength, student.config.contextLength, "the teacher's learned positions do not reach the student's sequence length");
  }
}

/** A teacher from its parameters (any NamedArray order; checked by name and shape against `config`). */
export function teacherFromArrays(config: ModelConfig, arrays: readonly NamedArray[], tokenizer?: TokenizerName): Teacher {
  // Dropout off: the teacher's targets must be deterministic.
  const frozen: ModelConfig = { ...config, dropout: 0 };
  const tensors = importParams(frozen, arrays);
  const weights = structureWeights(frozen, tensors);
  return {
    config: frozen,
    ...(tokenizer === undefined ? {} : { tokenizer }),
    weights,
    logits: (tokens) => forward(frozen, weights, tokens),
    dispose: () => tf.dispose(tensors),
  };
}
