// The full description of a model, resolved once from the job spec. Everything the model, its parameter names and
// its FLOP count need, and nothing else.
import { resolveModelShape, type JobSpec, type ModelShape } from "@gantry/crds";

export interface ModelConfig extends ModelShape {
  /** MLP hidden width: round(mlpRatio × dModel), for GELU and SwiGLU alike. */
  hidden: number;
  activation: "gelu" | "swiglu";
  dropout: number;
  positionalEncoding: "learned" | "rotary";
  tieEmbeddings: boolean;
}

export class ModelConfigError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(`model.${field}: ${message}`);
    this.name = "ModelConfigError";
  }
}

/** Width of one attention head. */
export const headDim = (c: ModelConfig): number => c.dModel / c.heads;

/** Throws ModelConfigError naming the first field that makes the shape unbuildable. */
export function validateModelConfig(c: ModelConfig): ModelConfig {
  const ints: (keyof ModelConfig)[] = ["vocabSize", "contextLength", "layers", "dModel", "heads", "kvHeads", "hidden"];
  for (const f of ints) {
    const v = c[f];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw new ModelConfigError(`must be a positive integer, got ${String(v)}`, f);
  }
  if (c.dModel % c.heads !== 0) throw new ModelConfigError(`dModel ${c.dModel} is not a multiple of heads ${c.heads}`, "heads");
  if (c.heads % c.kvHeads !== 0) throw new ModelConfigError(`heads ${c.heads} is not a multiple of kvHeads ${c.kvHeads}`, "kvHeads");
  if (c.positionalEncoding === "rotary" && headDim(c) % 2 !== 0) {
    throw new ModelConfigError(`rotary needs an even head width, got ${headDim(c)}`, "positionalEncoding");
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new ModelConfigError(`must be in [0, 1), got ${c.dropout}`, "dropout");
  return c;
}

/** The model a job trains: the resolved shape plus the architecture switches of spec.model. */
export function modelConfigFromSpec(spec: Pick<JobSpec, "model" | "data">): ModelConfig {
  const shape = resolveModelShape(spec.model, spec.data.tokenizer);
  return validateModelConfig({
    ...shape,
    hidden: Math.round(spec.model.mlpRatio * shape.dModel),
    activation: spec.model.activation,
    dropout: spec.model.dropout,
    positionalEncoding: spec.model.positionalEncoding,
    tieEmbeddings: spec.model.tieEmbeddings,
  });
}
