// Invalid manifests, each with the field path its rejection must name. Shared by the unit tests (parseJob) and the
// integration tests (the real API server).
import { minimalJob, withSpec, merge } from "./manifests.js";

export interface Bad {
  name: string;
  manifest: unknown;
  path: string;
  message?: RegExp;
}

export const BAD_MANIFESTS: Bad[] = [
  { name: "not an object", manifest: "kind: LLMTrainingJob", path: "", message: /object/ },
  { name: "wrong apiVersion", manifest: merge(minimalJob(), { apiVersion: "gantry.dev/v1" }), path: "apiVersion" },
  { name: "wrong kind", manifest: merge(minimalJob(), { kind: "TrainingJob" }), path: "kind" },
  { name: "missing spec", manifest: merge(minimalJob(), { spec: undefined }), path: "spec" },
  { name: "missing name", manifest: merge(minimalJob(), { metadata: { name: undefined } }), path: "metadata.name", message: /required/ },
  { name: "name too long for a pod name", manifest: withSpec({}, { name: "x".repeat(60) }), path: "metadata.name", message: /at most 42/ },
  { name: "upper-case name", manifest: withSpec({}, { name: "MyJob" }), path: "metadata.name", message: /DNS-1035/ },
  { name: "missing data", manifest: withSpec({ data: undefined }), path: "spec.data" },
  { name: "missing data URI", manifest: withSpec({ data: { source: undefined } }), path: "spec.data", message: /exactly one of data.source/ },
  { name: "http data URI", manifest: withSpec({ data: { source: "http://example.com/data" } }), path: "spec.data.source", message: /s3:\/\/bucket/ },
  { name: "relative file URI", manifest: withSpec({ data: { source: "file://data" } }), path: "spec.data.source" },
  { name: "unknown format", manifest: withSpec({ data: { format: "parquet" } }), path: "spec.data.format" },
  { name: "unknown tokenizer", manifest: withSpec({ data: { tokenizer: "llama3" } }), path: "spec.data.tokenizer" },
  { name: "negative stream weight", manifest: withSpec({ data: { source: undefined, streams: [{ name: "a", source: "s3://bucket/a", weight: -1 }] } }), path: "spec.data.streams[0].weight" },
  { name: "empty streams", manifest: withSpec({ data: { source: undefined, streams: [] } }), path: "spec.data.streams" },
  { name: "bad prefetch quantity", manifest: withSpec({ data: { prefetchBytes: "lots" } }), path: "spec.data.prefetchBytes", message: /quantity/ },
  {
    name: "S3 secret inline",
    manifest: withSpec({ data: { s3: { secretAccessKey: "hunter2" } } }),
    path: "spec.data.s3.secretAccessKey",
    message: /must not be written inline/,
  },
  {
    name: "credentials in the endpoint",
    manifest: withSpec({ data: { s3: { endpoint: "http://admin:secret@minio:9000" } } }),
    path: "spec.data.s3.endpoint",
    message: /no credentials/,
  },
  { name: "Redis password in URL", manifest: withSpec({ redis: { url: "redis://:pw@redis:6379" } }), path: "spec.redis.url", message: /no password/ },
  { name: "Redis password inline", manifest: withSpec({ redis: { password: "pw" } }), path: "spec.redis.password", message: /Secret/ },
  { name: "string steps", manifest: withSpec({ training: { steps: "100" } }), path: "spec.training.steps" },
  { name: "zero steps", manifest: withSpec({ training: { steps: 0 } }), path: "spec.training.steps" },
  { name: "fractional steps", manifest: withSpec({ training: { steps: 10.5 } }), path: "spec.training.steps" },
  { name: "negative learning rate", manifest: withSpec({ training: { optimizer: { lr: -0.001 } } }), path: "spec.training.optimizer.lr" },
  { name: "beta2 of 1", manifest: withSpec({ training: { optimizer: { beta2: 1 } } }), path: "spec.training.optimizer.beta2" },
  { name: "unknown schedule", manifest: withSpec({ training: { schedule: { type: "step" } } }), path: "spec.training.schedule.type" },
  { name: "zero micro batch", manifest: withSpec({ training: { microBatchSize: 0 } }), path: "spec.training.microBatchSize" },
  { name: "batch does not divide", manifest: withSpec({ workers: 3, training: { globalBatchSize: 32 } }), path: "spec.training.globalBatchSize", message: /multiple of microBatchSize/ },
  { name: "zero workers", manifest: withSpec({ workers: 0 }), path: "spec.workers" },
  { name: "negative GPUs", manifest: withSpec({ resources: { gpusPerWorker: -1 } }), path: "spec.resources.gpusPerWorker" },
  { name: "bad memory quantity", manifest: withSpec({ resources: { memory: "16 GB" } }), path: "spec.resources.memory" },
  { name: "ZeRO stage 4", manifest: withSpec({ parallelism: { zeroStage: 4 } }), path: "spec.parallelism.zeroStage" },
  { name: "unknown checkpointing mode", manifest: withSpec({ parallelism: { gradientCheckpointing: "some" } }), path: "spec.parallelism.gradientCheckpointing" },
  { name: "unknown model preset", manifest: withSpec({ model: { preset: "gpt5" } }), path: "spec.model.preset" },
  { name: "unknown activation", manifest: withSpec({ model: { activation: "relu6" } }), path: "spec.model.activation" },
  { name: "dropout of 1", manifest: withSpec({ model: { dropout: 1 } }), path: "spec.model.dropout" },
  { name: "kv heads do not divide", manifest: withSpec({ model: { heads: 8, kvHeads: 3 } }), path: "spec.model.kvHeads", message: /divide model.heads/ },
  { name: "unknown top-level spec field", manifest: withSpec({ replicas: 4 }), path: "spec.replicas", message: /unknown field/ },
  { name: "misspelled nested field", manifest: withSpec({ training: { learningRate: 0.1 } }), path: "spec.training.learningRate", message: /unknown field/ },
  { name: "elastic min above max", manifest: withSpec({ workers: 2, elastic: { minWorkers: 4, maxWorkers: 2 } }), path: "spec.elastic.minWorkers" },
  { name: "LoRA target unknown", manifest: withSpec({ peft: { lora: { targetModules: ["qkv"] } } }), path: "spec.peft.lora.targetModules[0]" },
  { name: "LoRA rank at width", manifest: withSpec({ peft: { lora: { rank: 128 } }, model: { pretrained: { uri: "file:///m" } } }), path: "spec.peft.lora.rank", message: /smaller than model.dModel/ },
  { name: "distillation temperature 0", manifest: withSpec({ distillation: { teacher: { uri: "s3://models/t" }, temperature: 0 } }), path: "spec.distillation.temperature" },
  { name: "distillation without teacher", manifest: withSpec({ distillation: { alpha: 0.5 } }), path: "spec.distillation.teacher" },
  { name: "checkpoint every 0 steps", manifest: withSpec({ checkpointing: { everySteps: 0 } }), path: "spec.checkpointing.everySteps" },
  { name: "unknown toleration operator", manifest: withSpec({ scheduling: { tolerations: [{ key: "a", operator: "In" }] } }), path: "spec.scheduling.tolerations[0].operator" },
  { name: "negative backoff limit", manifest: withSpec({ runPolicy: { backoffLimit: -1 } }), path: "spec.runPolicy.backoffLimit" },
  { name: "suspend as a string", manifest: withSpec({ suspend: "true" }), path: "spec.suspend" },
  { name: "bad pull policy", manifest: withSpec({ imagePullPolicy: "Sometimes" }), path: "spec.imagePullPolicy" },
];

