// Full-model objectives that trade compute for activation memory (gradient checkpointing).
//   full:      keep only each block's input; in backward recompute the block and take its gradients with tf.grads.
//   selective: tape everything but the attention core, whose scores and probabilities are recomputed in backward.
// Both give the same loss and gradients as fullModelObjective, bit for bit. fullModelObjective carries both variants
// (Objective.recomputed), so a Trainer given any full-model objective honours the mode.
import type { ModelConfig } from "../model/model-config.js";
import { fullModelObjective, type Objective } from "./objective.js";

export type GradientCheckpointing = "none" | "full" | "selective";

/** The full-model Objective for a checkpointing mode: none is fullModelObjective itself (plain DP bitwise unchanged). */
export function checkpointedObjective(config: ModelConfig, mode: GradientCheckpointing): Objective {
  return withCheckpointing(fullModelObjective(config), mode);
}

export class CheckpointingUnsupportedError extends Error {
  constructor(readonly mode: GradientCheckpointing) {
    super(`parallelism.gradientCheckpointing ${mode}: this objective has no recomputing variant (only full-model training has)`);
    this.name = "CheckpointingUnsupportedError";
  }
}

/** `objective` recomputing activations as `mode` asks; none leaves it as it is. */
export function withCheckpointing(objective: Objective, mode: GradientCheckpointing): Objective {
  if (mode === "none") return objective;
  const variant = objective.recomputed?.(mode);
  if (variant === undefined) throw new CheckpointingUnsupportedError(mode);
  return variant;
}
