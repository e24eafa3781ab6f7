// One table of cases for the cross-field rules: each names the rules it must fail (none for a valid job).
// Run through parseJob and the CEL stand-in by the unit tests, and through the real API server by the integration tests.
import { minimalJob, withSpec } from "./manifests.js";

export interface Case {
  name: string;
  manifest: Record<string, unknown>;
  old?: Record<string, unknown>;
  fails: string[];
}

const gpuJob = (spec: Record<string, unknown>) => withSpec({ resources: { gpusPerWorker: 8 }, ...spec });
const lora = { peft: { lora: { rank: 8 } }, model: { pretrained: { uri: "s3://models/gpt2", format: "hf-safetensors" } } };

export const CASES: Case[] = [
  { name: "minimal job", manifest: minimalJob(), fails: [] },
  { name: "name of 42 characters", manifest: withSpec({}, { name: "a".repeat(42) }), fails: [] },
  { name: "name of 43 characters", manifest: withSpec({}, { name: "a".repeat(43) }), fails: ["name-length"] },
  { name: "name starting with a digit", manifest: withSpec({}, { name: "1job" }), fails: ["name-dns1035"] },
  { name: "name with a dot", manifest: withSpec({}, { name: "my.job" }), fails: ["name-dns1035"] },
  { name: "no data source", manifest: withSpec({ data: { source: undefined } }), fails: ["data-source"] },
  {
    name: "both source and streams",
    manifest: withSpec({ data: { streams: [{ name: "web", source: "s3://corpus/web" }] } }),
    fails: ["data-source"],
  },
  {
    name: "unique streams",
    manifest: withSpec({
      data: { source: undefined, streams: [{ name: "web", source: "s3://corpus/web", weight: 3 }, { name: "code", source: "s3://corpus/code" }] },
    }),
    fails: [],
  },
  {
    name: "duplicate stream names",
    manifest: withSpec({
      data: { source: undefined, streams: [{ name: "web", source: "s3://corpus/a" }, { name: "web", source: "s3://corpus/b" }] },
    }),
    fails: ["stream-names-unique"],
  },
  { name: "validation by fraction", manifest: withSpec({ data: { validation: { fraction: 0.01 } } }), fails: [] },
  {
    name: "validation with fraction and source",
    manifest: withSpec({ data: { validation: { fraction: 0.01, source: "file:///data/val" } } }),
    fails: ["validation-split"],
  },
  { name: "validation with neither", manifest: withSpec({ data: { validation: { everySteps: 10 } } }), fails: ["validation-split"] },
  { name: "no training length", manifest: withSpec({ training: { steps: undefined } }), fails: ["training-length"] },
  { name: "steps and tokens", manifest: withSpec({ training: { tokens: 1_000_000 } }), fails: ["training-length"] },
  { name: "token budget", manifest: withSpec({ training: { steps: undefined, tokens: 1_000_000 } }), fails: [] },
  { name: "elastic within bounds", manifest: withSpec({ workers: 4, elastic: { minWorkers: 2, maxWorkers: 8 } }), fails: [] },
  { name: "workers below elastic min", manifest: withSpec({ workers: 1, elastic: { minWorkers: 2, maxWorkers: 8 } }), fails: ["elastic-workers"] },
  { name: "workers above elastic max", manifest: withSpec({ workers: 9, elastic: { minWorkers: 2, maxWorkers: 8 }, training: { globalBatchSize: 72 } }), fails: ["elastic-workers"] },
  { name: "elastic min above max", manifest: withSpec({ workers: 4, elastic: { minWorkers: 6, maxWorkers: 3 } }), fails: ["elastic-min-max"] },
  { name: "8 GPU workers, TP 8", manifest: gpuJob({ workers: 8, parallelism: { tensorParallel: 4 }, model: { preset: "gpt2-small" }, training: { globalBatchSize: 512, microBatchSize: 4 } }), fails: [] },
  {
    name: "TP × PP does not divide ranks",
    manifest: withSpec({ workers: 3, resources: { gpusPerWorker: 1 }, parallelism: { tensorParallel: 2 }, training: { globalBatchSize: 12, microBatchSize: 2 } }),
    fails: ["model-parallel-divides-ranks"],
  },
  {
    name: "TP × PP larger than ranks",
    manifest: withSpec({ workers: 1, parallelism: { tensorParallel: 2, pipelineParallel: 2 } }),
    fails: ["model-parallel-divides-ranks"],
  },
  { name: "batch not divisible by micro × dp", manifest: withSpec({ workers: 4, training: { globalBatchSize: 30, microBatchSize: 4 } }), fails: ["batch-divides"] },
  { name: "batch divisible by micro × dp", manifest: withSpec({ workers: 4, training: { globalBatchSize: 32, microBatchSize: 4 } }), fails: [] },
  { name: "micro batch larger than global", manifest: withSpec({ training: { globalBatchSize: 4, microBatchSize: 8 } }), fails: ["batch-divides"] },
  {
    name: "TP shrinks the data-parallel degree",
    manifest: gpuJob({ workers: 1, parallelism: { tensorParallel: 4 }, training: { globalBatchSize: 16, microBatchSize: 8 } }),
    fails: [],
  },
  { name: "heads do not divide width", manifest: withSpec({ model: { dModel: 130 } }), fails: ["heads-divide-width"] },
  { name: "GQA", manifest: withSpec({ model: { heads: 8, kvHeads: 2 } }), fails: [] },
  { name: "MQA", manifest: withSpec({ model: { kvHeads: 1 } }), fails: [] },
  { name: "kv heads do not divide heads", manifest: withSpec({ model: { kvHeads: 3 } }), fails: ["kv-heads-divide-heads"] },
  {
    name: "TP does not divide the preset's heads",
    manifest: gpuJob({ workers: 1, model: { preset: "gpt2-xl" }, parallelism: { tensorParallel: 2 }, training: { globalBatchSize: 32, microBatchSize: 8 } }),
    fails: ["tensor-parallel-divides-heads"],
  },
  {
    name: "PP deeper than the model",
    manifest: gpuJob({ workers: 1, parallelism: { pipelineParallel: 4 }, training: { globalBatchSize: 16, microBatchSize: 8 } }),
    fails: ["pipeline-within-layers"],
  },
  {
    name: "ZeRO-3 with PP",
    manifest: gpuJob({ workers: 1, model: { preset: "gpt2-small" }, parallelism: { pipelineParallel: 2, zeroStage: 3 }, training: { globalBatchSize: 32, microBatchSize: 8 } }),
    fails: ["zero-with-pipeline"],
  },
  {
    name: "ZeRO-1 with PP",
    manifest: gpuJob({ workers: 1, model: { preset: "gpt2-small" }, parallelism: { pipelineParallel: 2, zeroStage: 1 }, training: { globalBatchSize: 32, microBatchSize: 8 } }),
    fails: [],
  },
  {
    name: "ZeRO-3 with TP",
    manifest: gpuJob({ workers: 1, parallelism: { tensorParallel: 2, zeroStage: 3 }, training: { globalBatchSize: 32, microBatchSize: 8 } }),
    fails: ["zero3-without-tensor-parallel"],
  },
  {
    name: "ZeRO-2 with TP",
    manifest: gpuJob({ workers: 1, parallelism: { tensorParallel: 2, zeroStage: 2 }, training: { globalBatchSize: 32, microBatchSize: 8 } }),
    fails: [],
  },
  {
    name: "colocated TP groups: 2 workers × 4 GPUs, TP 2, PP 2",
    manifest: withSpec({ workers: 2, resources: { gpusPerWorker: 4 }, parallelism: { tensorParallel: 2, pipelineParallel: 2, colocateTensorParallel: true }, training: { globalBatchSize: 16, microBatchSize: 4 } }),
    fails: [],
  },
  {
    name: "colocation with TP not dividing GPUs per worker",
    manifest: withSpec({ workers: 4, resources: { gpusPerWorker: 2 }, parallelism: { tensorParallel: 4, colocateTensorParallel: true }, training: { globalBatchSize: 16, microBatchSize: 8 } }),
    fails: ["colocate-tensor-parallel"],
  },
  {
    name: "colocation on CPU workers",
    manifest: withSpec({ workers: 2, parallelism: { tensorParallel: 2, colocateTensorParallel: true }, training: { globalBatchSize: 16, microBatchSize: 8 } }),
    fails: ["colocate-tensor-parallel"],
  },
  {
    name: "TP across pods without colocation",
    manifest: withSpec({ workers: 4, resources: { gpusPerWorker: 2 }, parallelism: { tensorParallel: 4 }, training: { globalBatchSize: 16, microBatchSize: 8 } }),
    fails: [],
  },
  { name: "vocab smaller than tokenizer", manifest: withSpec({ model: { vocabSize: 50000 } }), fails: ["vocab-covers-tokenizer"] },
  { name: "vocab padded above tokenizer", manifest: withSpec({ model: { vocabSize: 50304 } }), fails: [] },
  { name: "small vocab with byte tokenizer", manifest: withSpec({ model: { vocabSize: 256 }, data: { tokenizer: "bytes" } }), fails: [] },
  { name: "LoRA on a pretrained model", manifest: withSpec(lora), fails: [] },
  { name: "LoRA rank at width", manifest: withSpec({ ...lora, peft: { lora: { rank: 128 } } }), fails: ["lora-rank-below-width"] },
  { name: "LoRA rank below explicit width", manifest: withSpec({ ...lora, peft: { lora: { rank: 128 } }, model: { ...lora.model, dModel: 256 } }), fails: [] },
  { name: "LoRA without a pretrained model", manifest: withSpec({ peft: { lora: { rank: 8 } } }), fails: ["peft-needs-pretrained"] },
  { name: "adapters ignore the LoRA rank", manifest: withSpec({ ...lora, peft: { method: "adapter", lora: { rank: 128 } } }), fails: [] },
  { name: "adapter bottleneck at width", manifest: withSpec({ ...lora, peft: { method: "adapter", adapter: { bottleneck: 128 } } }), fails: ["adapter-bottleneck-below-width"] },
  { name: "adapter bottleneck below width", manifest: withSpec({ ...lora, peft: { method: "adapter", adapter: { bottleneck: 32 } } }), fails: [] },
  { name: "LoRA with ZeRO-2", manifest: withSpec({ ...lora, parallelism: { zeroStage: 2 } }), fails: [] },
  { name: "LoRA with ZeRO-3", manifest: withSpec({ ...lora, parallelism: { zeroStage: 3 } }), fails: ["adapted-objective-plain-memory"] },
  { name: "LoRA with recomputation", manifest: withSpec({ ...lora, parallelism: { gradientCheckpointing: "full" } }), fails: ["adapted-objective-plain-memory"] },
  { name: "full training with ZeRO-3 and recomputation", manifest: withSpec({ parallelism: { zeroStage: 3, gradientCheckpointing: "full" } }), fails: [] },
  {
    name: "LoRA with TP",
    manifest: withSpec({ ...lora, workers: 2, parallelism: { tensorParallel: 2 }, training: { globalBatchSize: 16, microBatchSize: 8 } }),
    fails: ["adapted-objective-data-parallel"],
  },
  {
    name: "distillation with PP",
    manifest: withSpec({ distillation: { teacher: { uri: "s3://models/teacher" } }, workers: 2, parallelism: { pipelineParallel: 2 }, training: { globalBatchSize: 16, microBatchSize: 8 } }),
    fails: ["adapted-objective-data-parallel"],
  },
  {
    name: "distillation, data-parallel",
    manifest: withSpec({ distillation: { teacher: { uri: "s3://models/teacher" } }, workers: 2, training: { globalBatchSize: 16, microBatchSize: 8 } }),
    fails: [],
  },
  { name: "Redis by URL", manifest: withSpec({ redis: { url: "redis://redis.gantry:6379/0" } }), fails: [] },
  { name: "Redis by Secret", manifest: withSpec({ redis: { secretRef: { name: "redis-auth" } } }), fails: [] },
  {
    name: "Redis by URL and Secret",
    manifest: withSpec({ redis: { url: "redis://redis:6379", secretRef: { name: "redis-auth" } } }),
    fails: ["redis-one-source"],
  },
  { name: "update that keeps the model", manifest: withSpec({ workers: 2 }), old: minimalJob(), fails: [] },
  { name: "update that changes the model", manifest: withSpec({ model: { layers: 4 } }), old: minimalJob(), fails: ["model-immutable"] },
  {
    name: "update that spells out a default",
    manifest: withSpec({ model: { preset: "tiny", activation: "gelu" } }),
    old: minimalJob(),
    fails: [],
  },
  {
    name: "several rules at once",
    manifest: withSpec({ workers: 3, training: { globalBatchSize: 10, microBatchSize: 4, tokens: 5 }, model: { kvHeads: 3 } }),
    fails: ["batch-divides", "kv-heads-divide-heads", "training-length"],
  },
];

