// spec.parallelism reaches the Trainer, and the Trainer refuses what it cannot honour, naming the field.
import { beforeAll, describe, expect, it } from "vitest";
import { parseJob } from "@gantry/crds";
import { selectBackend } from "../../src/backend/select-backend.js";
import { SoloCollective, type Collective } from "../../src/collective/collective.js";
import { CheckpointingUnsupportedError } from "../../src/train/checkpointed-objective.js";
import { fullModelObjective, type Objective } from "../../src/train/objective.js";
import { PLAIN_DP, TrainConfigError, trainConfigFromSpec } from "../../src/train/train-config.js";
import { Trainer } from "../../src/train/trainer.js";
import { TINY, tinyTrain } from "../model/tiny.js";

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
});

describe("memory configuration", () => {
  it("threads parallelism.zeroStage and gradientCheckpointing into TrainConfig.memory", () => {
    const parsed = parseJob({
      apiVersion: "gantry.dev/v1alpha1",
      kind: "LLMTrainingJob",
      metadata: { name: "m" },
      spec: { data: { source: "s3://corpora/web", tokenizer: "bytes" }, training: { steps: 10 }, parallelism: { zeroStage: 2, gradientCheckpointing: "selective" } },
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    expect(trainConfigFromSpec(parsed.job.spec).memory).toEqual({ zeroStage: 2, gradientCheckpointing: "selective" });
    const { model, data, training } = parsed.job.spec;
    expect(trainConfigFromSpec({ model, data, training }).memory).toBeUndefined();
    expect(new Trainer(tinyTrain(), new SoloCollective()).memory).toEqual(PLAIN_DP);
  });

  it("threads tensorParallel, pipelineParallel and pipelineSchedule into TrainConfig.modelParallel", () => {
    const parsed = parseJob({
      apiVersion: "gantry.dev/v1alpha1",
      kind: "LLMTrainingJob",
      metadata: { name: "m" },
      spec: { workers: 4, data: { source: "s3://corpora/web", tokenizer: "bytes" }, training: { steps: 10 }, parallelism: { tensorParallel: 2, pipelineParallel: 2, pipelineSchedule: "gpipe" } },
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    expect(trainConfigFromSpec(parsed.job.spec).modelParallel).toEqual({ tensorParallel: 2, pipelineParallel: 2, schedule: "gpipe" });
  });

  it("refuses ZeRO-3 for an objective that trains a subset, checkpointing for one without a recomputing variant, and ZeRO on a collective without shard ops", () => {
    const full = fullModelObjective(TINY);
    const plain: Objective = { trainable: full.trainable, init: full.init, gradients: full.gradients, evalLoss: full.evalLoss };
    const subset: Objective = { ...plain, trainable: plain.trainable.slice(0, 3), init: (seed) => plain.init(seed).slice(0, 3) };
    expect(() => new Trainer(tinyTrain({ memory: { zeroStage: 3, gradientCheckpointing: "none" } }), new SoloCollective(), { objective: subset })).toThrow(TrainConfigError);
    expect(() => new Trainer(tinyTrain({ memory: { zeroStage: 0, gradientCheckpointing: "full" } }), new SoloCollective(), { objective: plain })).toThrow(CheckpointingUnsupportedError);
    const solo = new SoloCollective();
    const bare: Collective = { rank: 0, worldSize: 1, allReduceSum: () => solo.allReduceSum(), allGather: (d) => solo.allGather(d), broadcast: () => solo.broadcast(), barrier: () => solo.barrier(), close: () => solo.close() };
    expect(() => new Trainer(tinyTrain({ memory: { zeroStage: 1, gradientCheckpointing: "none" } }), bare)).toThrow(/reduce-scatter/);
  });
});
