import { z } from "zod";
import { CheckpointRef } from "./model.js";
import { positiveInt, storageUri } from "./primitives.js";

export const Optimizer = z
  .strictObject({
    type: z.enum(["adamw"]).default("adamw").describe("Optimizer. AdamW with decoupled weight decay."),
    lr: z.number().gt(0).max(10).default(3e-4).describe("Peak learning rate."),
    beta1: z.number().min(0).lt(1).default(0.9).describe("AdamW beta1."),
    beta2: z.number().min(0).lt(1).default(0.95).describe("AdamW beta2."),
    eps: z.number().gt(0).max(1).default(1e-8).describe("AdamW epsilon."),
    weightDecay: z.number().min(0).max(10).default(0.1).describe("Decoupled weight decay."),
  })
  .describe("Optimizer settings.");

export const Schedule = z
  .strictObject({
    type: z.enum(["cosine", "linear", "constant"]).default("cosine").describe("Decay after warmup."),
    warmupSteps: z.int().min(0).default(0).describe("Linear warmup from 0 to the peak learning rate over this many steps."),
    minLrRatio: z.number().min(0).max(1).default(0.1).describe("Final learning rate as a fraction of the peak (cosine and linear)."),
  })
  .describe("Learning-rate schedule: warmup, then cosine, linear or constant.");

export const Training = z
  .strictObject({
    steps: positiveInt("Optimizer steps to run. Give this or tokens.").optional(),
    tokens: positiveInt("Token budget; steps = ceil(tokens / (globalBatchSize × contextLength)). Give this or steps.").optional(),
    globalBatchSize: positiveInt("Sequences per optimizer step, summed over all data-parallel ranks.").max(1_048_576).default(32),
    microBatchSize: positiveInt("Sequences per forward/backward pass on one rank; gradients accumulate up to the global batch.")
      .max(65_536)
      .default(8),
    optimizer: Optimizer.prefault({}),
    schedule: Schedule.prefault({}),
    gradClipNorm: z.number().min(0).default(1).describe("Clip the global gradient norm to this value; 0 disables clipping."),
    seed: z.int().min(0).max(4_294_967_295).default(1337).describe("Seed of parameter initialisation and dropout."),
    logEverySteps: positiveInt("Report loss and throughput every N steps.").default(10),
  })
  .describe("How long and how to train.");

export const Parallelism = z
  .strictObject({
    tensorParallel: positiveInt("Tensor-parallel degree (Megatron-style, within a layer).").max(64).default(1),
    pipelineParallel: positiveInt("Pipeline-parallel degree (layers split into stages).").max(64).default(1),
    zeroStage: z.int().min(0).max(3).default(0).describe("ZeRO stage: 0 off, 1 shards optimizer state, 2 also gradients, 3 also parameters."),
    gradientCheckpointing: z
      .enum(["none", "full", "selective"])
      .default("none")
      .describe("Recompute activations in backward: none, full (every block), or selective (attention only)."),
    pipelineSchedule: z
      .enum(["1f1b", "gpipe"])
      .default("1f1b")
      .describe(
        "Pipeline schedule: 1f1b (one forward, one backward in turn; at most pipelineParallel micro-batches in flight per stage) or gpipe (all forwards, then all backwards). Micro-batches per step: globalBatchSize / (microBatchSize × data-parallel ranks).",
      ),
    colocateTensorParallel: z
      .boolean()
      .default(false)
      .describe(
        "Require every tensor-parallel group to share one worker pod (and so one node): gpusPerWorker must be a multiple of tensorParallel.",
      ),
  })
  .describe("Parallelism. The data-parallel degree is derived: ranks / (tensorParallel × pipelineParallel).");

export const LoRA = z
  .strictObject({
    rank: positiveInt("Rank r of the low-rank update.").max(4096).default(8),
    alpha: z.number().gt(0).max(65_536).default(16).describe("Scaling numerator; the update is scaled by alpha / rank."),
    dropout: z.number().min(0).lt(1).default(0).describe("Dropout on the LoRA path."),
    targetModules: z
      .array(z.enum(["q", "k", "v", "o", "up", "down"]))
      .min(1)
      .max(6)
      .default(["q", "v"])
      .describe("Weight matrices that get adapters: attention q, k, v, o and MLP up, down."),
  })
  .describe("Low-rank adaptation.");

export const Adapter = z
  .strictObject({
    bottleneck: positiveInt("Width of the adapter's bottleneck (down-projection to this many features, then back to dModel).")
      .max(65_536)
      .default(16),
    placement: z
      .enum(["attention", "mlp", "both"])
      .default("both")
      .describe("Where adapters go in each block: after attention, after the MLP, or after both."),
  })
  .describe("Bottleneck adapters (down-projection, GELU, up-projection, residual) in every block.");

export const Peft = z
  .strictObject({
    method: z.enum(["lora", "adapter"]).default("lora").describe("Parameter-efficient method: lora (low-rank updates of chosen weights) or adapter (bottleneck layers)."),
    lora: LoRA.prefault({}),
    adapter: Adapter.prefault({}),
  })
  .describe("Parameter-efficient fine-tuning. Needs model.pretrained.");

export const Distillation = z
  .strictObject({
    teacher: CheckpointRef.describe("The teacher model's checkpoint."),
    temperature: z.number().gt(0).max(100).default(2).describe("Softmax temperature for the teacher and student logits."),
    alpha: z.number().min(0).max(1).default(0.5).describe("Weight of the hard-label cross-entropy; 1 - alpha weights the distillation term T² · KL(teacher ‖ student)."),
  })
  .describe("Knowledge distillation from a teacher model.");

export const Checkpointing = z
  .strictObject({
    uri: storageUri(
      "Where checkpoints are written. Defaults to the operator's checkpoint location plus <namespace>/<name>.",
    ).optional(),
    everySteps: positiveInt("Save every N optimizer steps.").default(100),
    everyMinutes: positiveInt("Also save when this many minutes have passed since the last save.").max(10_080).optional(),
    keepLast: positiveInt("Keep the newest K checkpoints; older ones are deleted.").max(1000).default(3),
    saveOnPreemption: z.boolean().default(true).describe("Save a checkpoint within the termination grace period on SIGTERM."),
  })
  .describe("Checkpoint and resume.");
