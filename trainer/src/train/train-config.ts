// Everything one training step needs, resolved from the job spec once. Pure.
import type { JobSpec } from "@gantry/crds";
import { modelConfigFromSpec, type ModelConfig } from "../model/model-config.js";
import type { AdamWHyper } from "../optim/adamw.js";
import type { LrSchedule } from "../optim/lr-schedule.js";
import type { ZeroStage } from "../zero/memory-accounting.js";
import type { GradientCheckpointing } from "./checkpointed-objective.js";

/** spec.parallelism's memory knobs. */
export interface MemoryConfig {
  /** 0 plain DP; 1 optimizer state sharded; 2 gradients too; 3 parameters too. */
  zeroStage: ZeroStage;
  gradientCheckpointing: GradientCheckpointing;
  /** ZeRO-2: gradient elements reduce-scattered per bucket (default DEFAULT_BUCKET_BYTES / 4). */
  bucketElements?: number;
}

export const PLAIN_DP: MemoryConfig = { zeroStage: 0, gradientCheckpointing: "none" };

export interface TrainConfig {
  model: ModelConfig;
  optimizer: AdamWHyper;
  schedule: LrSchedule;
  globalBatchSize: number;
  microBatchSize: number;
  /** 0 disables clipping. */
  gradClipNorm: number;
  /** training.seed: initialisation and dropout. */
  seed: number;
  /** ZeRO stage and activation checkpointing; absent: plain DP, no recomputation. */
  memory?: MemoryConfig;
  /** Tensor and pipeline parallelism; absent: both 1. */
  modelParallel?: ModelParallelConfig;
}

export interface ModelParallelConfig {
  tensorParallel: number;
  pipelineParallel: number;
  schedule: "1f1b" | "gpipe";
}

/** tensorParallel × pipelineParallel: ranks that hold one copy of the model between them. */
export const modelParallelRanks = (c: Pick<TrainConfig, "modelParallel">): number => (c.modelParallel?.tensorParallel ?? 1) * (c.modelParallel?.pipelineParallel ?? 1);

export class TrainConfigError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(`${field}: ${message}`);
    this.name = "TrainConfigError";
  }
}

/** training.steps, else ceil(tokens / (globalBatchSize × contextLength)). */
export function totalSteps(training: Pick<JobSpec["training"], "steps" | "tokens" | "globalBatchSize">, contextLength: number): number {
  if (training.steps !== undefined) return training.steps;
  if (training.tokens !== undefined) return Math.ceil(training.tokens / (training.globalBatchSize * contextLength));
  throw new TrainConfigError("give steps or tokens", "training.steps");
}

/** Micro-batches each rank runs per optimizer step: globalBatch / (microBatch × data-parallel world). */
export function accumulationSteps(globalBatchSize: number, microBatchSize: number, worldSize: number): number {
  const perStep = microBatchSize * worldSize;
  if (globalBatchSize % perStep !== 0) {
    throw new TrainConfigError(`globalBatchSize ${globalBatchSize} is not a multiple of microBatchSize ${microBatchSize} × world size ${worldSize}`, "training.globalBatchSize");
  }
  return globalBatchSize / perStep;
}

const asZeroStage = (n: number): ZeroStage => {
  if (n === 0 || n === 1 || n === 2 || n === 3) return n;
  throw new TrainConfigError(`${n} is not a ZeRO stage (0-3)`, "parallelism.zeroStage");
};

export function trainConfigFromSpec(spec: Pick<JobSpec, "model" | "data" | "training"> & Partial<Pick<JobSpec, "parallelism">>): TrainConfig {
  const model = modelConfigFromSpec(spec);
  const t = spec.training;
  return {
    model,
    optimizer: { beta1: t.optimizer.beta1, beta2: t.optimizer.beta2, eps: t.optimizer.eps, weightDecay: t.optimizer.weightDecay },
    schedule: {
      type: t.schedule.type,
      peakLr: t.optimizer.lr,
      warmupSteps: t.schedule.warmupSteps,
      minLrRatio: t.schedule.minLrRatio,
      totalSteps: totalSteps(t, model.contextLength),
    },
    globalBatchSize: t.globalBatchSize,
    microBatchSize: t.microBatchSize,
    gradClipNorm: t.gradClipNorm,
    seed: t.seed,
    ...(spec.parallelism === undefined
      ? {}
      : {
          memory: { zeroStage: asZeroStage(spec.parallelism.zeroStage), gradientCheckpointing: spec.parallelism.gradientCheckpointing },
          modelParallel: { tensorParallel: spec.parallelism.tensorParallel, pipelineParallel: spec.parallelism.pipelineParallel, schedule: spec.parallelism.pipelineSchedule },
        }),
  };
}
