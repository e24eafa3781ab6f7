// A job with tensorParallel × pipelineParallel > 1 trains its rank's shard of the whole model: the same objective
// decision (fresh or pretrained), cut to the shard. Adapters and distillation are data-parallel only (the API's
// adapted-objective-data-parallel rule says so first); a spec built by hand gets the same answer here.
import type { JobSpec } from "@gantry/crds";
import type { NamedArray } from "../checkpoint/named-array.js";
import type { ProcessGroups } from "../collective/process-groups.js";
import { ModelParallelObjective } from "../parallel/model-parallel-objective.js";
import { shardArrays } from "../parallel/partition.js";
import { TrainConfigError, type TrainConfig } from "../train/train-config.js";
import type { TrainingSetup } from "./objective-for-spec.js";

export interface SplitSetup {
  setup: TrainingSetup;
  /** This rank's part of whole-model arrays (a checkpoint's weights or AdamW state). */
  local: (arrays: NamedArray[]) => NamedArray[];
}

export function splitModelSetup(setup: TrainingSetup, spec: Partial<Pick<JobSpec, "distillation">>, train: TrainConfig, groups: ProcessGroups): SplitSetup {
  const mp = train.modelParallel;
  if (setup.plan.kind === "peft" || spec.distillation !== undefined) {
    const what = setup.plan.kind === "peft" ? "adapters (spec.peft)" : "distillation (spec.distillation)";
    throw new TrainConfigError(`${what} train data-parallel only; set tensorParallel and pipelineParallel to 1`, "parallelism");
  }
  const { coords, degrees } = groups;
  const objective = new ModelParallelObjective(train.model, { tp: degrees.tp, pp: degrees.pp, tpRank: coords.tp, stage: coords.pp }, groups, {
    schedule: mp?.schedule ?? "1f1b",
    gradientCheckpointing: train.memory?.gradientCheckpointing ?? "none",
  });
  const local = (arrays: NamedArray[]) => shardArrays(objective.shard, arrays);
  const shardCount = objective.shard.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  return {
    setup: {
      ...setup,
      objective,
      // A fresh model draws only the stage's tensors; a pretrained one is read whole, then cut.
      initial: () => (setup.plan.kind === "full" ? objective.init(train.seed) : local(setup.initial())),
      counts: { ...setup.counts, trainable: shardCount },
    },
    local,
  };
}
