// Cross-field rules of LLMTrainingJob, each written once as CEL (for the API server) and once as TypeScript (for parseJob).
// The two forms are checked against one table of cases in crds/test/rules-agreement.test.ts.
import { celPresetField, celTokenizerVocab, resolveModelShape } from "./model-shape.js";
import type { LLMTrainingJob } from "./schema/job.js";
import { MAX_NAME_LENGTH } from "./schema/job.js";
import { TOKENIZER_VOCAB } from "./schema/presets.js";

/** Where a rule sits in the schema: the CEL `self` is the object at this path. */
export type RulePath = readonly [] | readonly ["spec"] | readonly ["spec", string] | readonly ["spec", string, string];

export type RuleReason = "FieldValueInvalid" | "FieldValueRequired" | "FieldValueForbidden" | "FieldValueDuplicate";

export interface CrossFieldRule {
  /** Stable identifier, used in tests and docs. */
  id: string;
  /** Schema node the CEL rule is attached to. */
  at: RulePath;
  /** Field the error is reported on, relative to `at`, in Kubernetes fieldPath form (".a.b"); empty for the node itself. */
  field: string;
  cel: string;
  message: string;
  reason: RuleReason;
  /** True for a transition rule, which compares with the stored object (oldSelf) on update only. */
  transition?: boolean;
  /** The same rule in TypeScript, over the defaulted job (and the stored job on update). */
  holds(job: LLMTrainingJob, old?: LLMTrainingJob): boolean;
}

const RANKS_CEL = "(self.workers * (self.resources.gpusPerWorker > 0 ? self.resources.gpusPerWorker : 1))";
const MP_CEL = "(self.parallelism.tensorParallel * self.parallelism.pipelineParallel)";

export function totalRanks(job: LLMTrainingJob): number {
  return job.spec.workers * Math.max(job.spec.resources.gpusPerWorker, 1);
}

export function modelParallelSize(job: LLMTrainingJob): number {
  return job.spec.parallelism.tensorParallel * job.spec.parallelism.pipelineParallel;
}

const shapeOf = (job: LLMTrainingJob) => resolveModelShape(job.spec.model, job.spec.data.tokenizer);
const specModel = (field: "dModel" | "heads" | "layers") => celPresetField("self.model", field);

export const NAME_PATTERN = "^[a-z]([-a-z0-9]*[a-z0-9])?$";

export const CROSS_FIELD_RULES: readonly CrossFieldRule[] = [
  {
    id: "name-length",
    at: [],
    field: ".metadata.name",
    cel: `!has(self.metadata.name) || size(self.metadata.name) <= ${MAX_NAME_LENGTH}`,
    message: `metadata.name must be at most ${MAX_NAME_LENGTH} characters, so that worker pod and Service names fit in a DNS label`,
    reason: "FieldValueInvalid",
    holds: (job) => job.metadata.name === undefined || job.metadata.name.length <= MAX_NAME_LENGTH,
  },
  {
    id: "name-dns1035",
    at: [],
    field: ".metadata.name",
    cel: `!has(self.metadata.name) || self.metadata.name.matches('${NAME_PATTERN}')`,
    message: "metadata.name must start with a lower-case letter and hold only lower-case letters, digits and '-' (a DNS-1035 label)",
    reason: "FieldValueInvalid",
    holds: (job) => job.metadata.name === undefined || new RegExp(NAME_PATTERN).test(job.metadata.name),
  },
  {
    id: "data-source",
    at: ["spec", "data"],
    field: "",
    cel: "has(self.source) != has(self.streams)",
    message: "exactly one of data.source and data.streams must be set",
    reason: "FieldValueRequired",
    holds: (job) => (job.spec.data.source !== undefined) !== (job.spec.data.streams !== undefined),
  },
  {
    id: "stream-names-unique",
    at: ["spec", "data"],
    field: ".streams",
    cel: "!has(self.streams) || self.streams.all(s, self.streams.exists_one(t, t.name == s.name))",
    message: "data.streams names must be unique",
    // FieldValueDuplicate would make the API server print "Duplicate value" without this message.
    reason: "FieldValueInvalid",
    holds: (job) => {
      const names = (job.spec.data.streams ?? []).map((s) => s.name);
      return new Set(names).size === names.length;
    },
  },
  {
    id: "validation-split",
    at: ["spec", "data", "validation"],
    field: "",
    cel: "has(self.fraction) != has(self.source)",
    message: "exactly one of data.validation.fraction and data.validation.source must be set",
    reason: "FieldValueRequired",
    holds: (job) => {
      const v = job.spec.data.validation;
      return v === undefined || (v.fraction !== undefined) !== (v.source !== undefined);
    },
  },
  {
    id: "training-length",
    at: ["spec", "training"],
    field: "",
    cel: "has(self.steps) != has(self.tokens)",
    message: "exactly one of training.steps and training.tokens must be set",
    reason: "FieldValueRequired",
    holds: (job) => (job.spec.training.steps !== undefined) !== (job.spec.training.tokens !== undefined),
  },
  {
    id: "elastic-min-max",
    at: ["spec", "elastic"],
    field: ".minWorkers",
    cel: "self.minWorkers <= self.maxWorkers",
    message: "elastic.minWorkers must not exceed elastic.maxWorkers",
    reason: "FieldValueInvalid",
    holds: (job) => job.spec.elastic === undefined || job.spec.elastic.minWorkers <= job.spec.elastic.maxWorkers,
  },
  {
    id: "elastic-workers",
    at: ["spec"],
    field: ".workers",
    cel: "!has(self.elastic) || self.elastic.minWorkers > self.elastic.maxWorkers || (self.elastic.minWorkers <= self.workers && self.workers <= self.elastic.maxWorkers)",
    message: "workers must lie within elastic.minWorkers and elastic.maxWorkers",
    reason: "FieldValueInvalid",
    holds: (job) => {
      const e = job.spec.elastic;
      return e === undefined || e.minWorkers > e.maxWorkers || (e.minWorkers <= job.spec.workers && job.spec.workers <= e.maxWorkers);
    },
  },
  {
    id: "model-parallel-divides-ranks",
    at: ["spec"],
    field: ".parallelism",
    cel: `${RANKS_CEL} % ${MP_CEL} == 0`,
    message: "tensorParallel × pipelineParallel must divide the ranks (workers × max(gpusPerWorker, 1))",
    reason: "FieldValueInvalid",
    holds: (job) => totalRanks(job) % modelParallelSize(job) === 0,
  },
  {
    id: "batch-divides",
    at: ["spec"],
    field: ".training.globalBatchSize",
    cel: `${RANKS_CEL} % ${MP_CEL} != 0 || self.training.globalBatchSize % (self.training.microBatchSize * (${RANKS_CEL} / ${MP_CEL})) == 0`,
    message: "training.globalBatchSize must be a multiple of microBatchSize × data-parallel ranks",
    reason: "FieldValueInvalid",
    holds: (job) => {
      const mp = modelParallelSize(job);
      const ranks = totalRanks(job);
      if (ranks % mp !== 0) return true;
      return job.spec.training.globalBatchSize % (job.spec.training.microBatchSize * (ranks / mp)) === 0;
    },
  },
  {
    id: "heads-divide-width",
    at: ["spec"],
    field: ".model.heads",
    cel: `${specModel("dModel")} % ${specModel("heads")} == 0`,
    message: "model.heads must divide model.dModel",
    reason: "FieldValueInvalid",
    holds: (job) => {
      const s = shapeOf(job);
      return s.dModel % s.heads === 0;
    },
  },
  {
    id: "kv-heads-divide-heads",
    at: ["spec"],
    field: ".model.kvHeads",
    cel: `!has(self.model.kvHeads) || ${specModel("heads")} % self.model.kvHeads == 0`,
    message: "model.kvHeads must divide model.heads (MHA: equal, GQA: a divisor, MQA: 1)",
    reason: "FieldValueInvalid",
    holds: (job) => {
      const s = shapeOf(job);
      return s.heads % s.kvHeads === 0;
    },
  },
  {
    id: "tensor-parallel-divides-heads",
    at: ["spec"],
    field: ".parallelism.tensorParallel",
    cel: `${specModel("heads")} % self.parallelism.tensorParallel == 0`,
    message: "parallelism.tensorParallel must divide model.heads",
    reason: "FieldValueInvalid",
    holds: (job) => shapeOf(job).heads % job.spec.parallelism.tensorParallel === 0,
  },
  {
    id: "pipeline-within-layers",
    at: ["spec"],
    field: ".parallelism.pipelineParallel",
    cel: `self.parallelism.pipelineParallel <= ${specModel("layers")}`,
    message: "parallelism.pipelineParallel must not exceed model.layers",
    reason: "FieldValueInvalid",
    holds: (job) => job.spec.parallelism.pipelineParallel <= shapeOf(job).layers,
  },
  {
    id: "zero-with-pipeline",
    at: ["spec", "parallelism"],
    field: ".zeroStage",
    cel: "self.zeroStage <= 1 || self.pipelineParallel == 1",
    message: "parallelism.zeroStage 2 and 3 cannot be combined with pipelineParallel > 1",
    reason: "FieldValueForbidden",
    holds: (job) => job.spec.parallelism.zeroStage <= 1 || job.spec.parallelism.pipelineParallel === 1,
  },
  {
    id: "zero3-without-tensor-parallel",
    at: ["spec", "parallelism"],
    field: ".zeroStage",
    cel: "self.zeroStage != 3 || self.tensorParallel == 1",
    message: "parallelism.zeroStage 3 cannot be combined with tensorParallel > 1 (use zeroStage 1 or 2 over the data-parallel group)",
    reason: "FieldValueForbidden",
    holds: (job) => job.spec.parallelism.zeroStage !== 3 || job.spec.parallelism.tensorParallel === 1,
  },
  {
    // Ranks are numbered with tensor-parallel peers adjacent, so a pod of G GPUs holds whole TP groups when TP divides G.
    id: "colocate-tensor-parallel",
    at: ["spec"],
    field: ".parallelism.colocateTensorParallel",
    cel: "!self.parallelism.colocateTensorParallel || (self.resources.gpusPerWorker > 0 && self.resources.gpusPerWorker % self.parallelism.tensorParallel == 0)",
    message:
      "parallelism.colocateTensorParallel needs resources.gpusPerWorker to be a positive multiple of parallelism.tensorParallel, so that each tensor-parallel group fits in one worker pod",
    reason: "FieldValueInvalid",
    holds: (job) => {
      const { gpusPerWorker } = job.spec.resources;
      return !job.spec.parallelism.colocateTensorParallel || (gpusPerWorker > 0 && gpusPerWorker % job.spec.parallelism.tensorParallel === 0);
    },
  },
  {
    id: "vocab-covers-tokenizer",
    at: ["spec"],
    field: ".model.vocabSize",
    cel: `!has(self.model.vocabSize) || self.model.vocabSize >= ${celTokenizerVocab("self.data.tokenizer")}`,
    message: "model.vocabSize must be at least the tokenizer's vocabulary (gpt2 50257, cl100k_base 100277, bytes 256)",
    reason: "FieldValueInvalid",
    holds: (job) => job.spec.model.vocabSize === undefined || job.spec.model.vocabSize >= TOKENIZER_VOCAB[job.spec.data.tokenizer],
  },
  {
    id: "lora-rank-below-width",
    at: ["spec"],
    field: ".peft.lora.rank",
    cel: `!has(self.peft) || self.peft.method != 'lora' || self.peft.lora.rank < ${specModel("dModel")}`,
    message: "peft.lora.rank must be smaller than model.dModel",
    reason: "FieldValueInvalid",
    holds: (job) => job.spec.peft === undefined || job.spec.peft.method !== "lora" || job.spec.peft.lora.rank < shapeOf(job).dModel,
  },
  {
    id: "adapter-bottleneck-below-width",
    at: ["spec"],
    field: ".peft.adapter.bottleneck",
    cel: `!has(self.peft) || self.peft.method != 'adapter' || self.peft.adapter.bottleneck < ${specModel("dModel")}`,
    message: "peft.adapter.bottleneck must be smaller than model.dModel (a bottleneck narrower than the residual stream)",
    reason: "FieldValueInvalid",
    holds: (job) => job.spec.peft === undefined || job.spec.peft.method !== "adapter" || job.spec.peft.adapter.bottleneck < shapeOf(job).dModel,
  },
  {
    id: "peft-needs-pretrained",
    at: ["spec"],
    field: ".model.pretrained",
    cel: "!has(self.peft) || has(self.model.pretrained)",
    message: "peft needs model.pretrained: adapters are trained on top of a pretrained checkpoint",
    reason: "FieldValueRequired",
    holds: (job) => job.spec.peft === undefined || job.spec.model.pretrained !== undefined,
  },
  {
    id: "adapted-objective-plain-memory",
    at: ["spec"],
    field: ".parallelism",
    cel: "!(has(self.peft) || has(self.distillation)) || (self.parallelism.zeroStage <= 2 && self.parallelism.gradientCheckpointing == 'none')",
    message: "peft and distillation jobs train with parallelism.zeroStage at most 2 and gradientCheckpointing none (their trainable state is small; recomputation and parameter sharding apply to full training)",
    reason: "FieldValueForbidden",
    holds: (job) =>
      (job.spec.peft === undefined && job.spec.distillation === undefined) || (job.spec.parallelism.zeroStage <= 2 && job.spec.parallelism.gradientCheckpointing === "none"),
  },
  {
    id: "adapted-objective-data-parallel",
    at: ["spec"],
    field: ".parallelism",
    cel: "!(has(self.peft) || has(self.distillation)) || (self.parallelism.tensorParallel == 1 && self.parallelism.pipelineParallel == 1)",
    message: "peft and distillation jobs are data-parallel only: parallelism.tensorParallel and parallelism.pipelineParallel must be 1",
    reason: "FieldValueForbidden",
    holds: (job) =>
      (job.spec.peft === undefined && job.spec.distillation === undefined) || (job.spec.parallelism.tensorParallel === 1 && job.spec.parallelism.pipelineParallel === 1),
  },
  {
    id: "redis-one-source",
    at: ["spec", "redis"],
    field: "",
    cel: "!(has(self.url) && has(self.secretRef))",
    message: "give redis.url or redis.secretRef, not both",
    reason: "FieldValueInvalid",
    holds: (job) => job.spec.redis === undefined || job.spec.redis.url === undefined || job.spec.redis.secretRef === undefined,
  },
  {
    id: "model-immutable",
    at: ["spec", "model"],
    field: "",
    cel: "self == oldSelf",
    message: "model is immutable: create a new job to train a different model",
    reason: "FieldValueForbidden",
    transition: true,
    holds: (job, old) => old === undefined || deepEqual(job.spec.model, old.spec.model),
  },
];

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
