// The LLMTrainingJob resource: the one source for TypeScript types, runtime validation and the CRD.
import { z } from "zod";
import { Data } from "./data.js";
import { Model } from "./model.js";
import { RunPolicy, Redis, Resources, Elastic, Scheduling } from "./scheduling.js";
import { JobStatus } from "./status.js";
import { Checkpointing, Distillation, Parallelism, Peft, Training } from "./training.js";

export const GROUP = "gantry.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}` as const;
export const KIND = "LLMTrainingJob";
export const PLURAL = "llmtrainingjobs";
export const SINGULAR = "llmtrainingjob";
export const SHORT_NAMES = ["llmjob", "ltj"];
export const CATEGORIES = ["gantry", "training"];

/**
 * Longest job name. Worker pods are named <job>-<attempt>-<rank> and their headless Service <job>;
 * 42 leaves room for both within the 63 characters of a DNS label.
 */
export const MAX_NAME_LENGTH = 42;

export const JobSpec = z
  .strictObject({
    image: z
      .string()
      .min(1)
      .max(512)
      .regex(/^[^\s]+$/, { message: "must be an image reference with no whitespace" })
      .optional()
      .describe("Trainer image. Defaults to the operator's configured trainer image."),
    imagePullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).default("IfNotPresent").describe("Pull policy of the trainer image."),
    imagePullSecrets: z
      .array(z.string().min(1).max(253))
      .max(16)
      .optional()
      .describe("Names of Secrets used to pull the trainer image."),
    model: Model.prefault({}),
    data: Data,
    training: Training,
    parallelism: Parallelism.prefault({}),
    peft: Peft.optional(),
    distillation: Distillation.optional(),
    checkpointing: Checkpointing.prefault({}),
    workers: z.int().min(1).max(4096).default(1).describe("Worker pods in the gang. Scaled by the scale subresource for elastic jobs."),
    elastic: Elastic.optional(),
    resources: Resources.prefault({}),
    scheduling: Scheduling.prefault({}),
    runPolicy: RunPolicy.prefault({}),
    suspend: z.boolean().default(false).describe("Suspend the job: delete its pods and keep its checkpoints and offsets; resume by setting false."),
    redis: Redis.optional(),
  })
  .describe("Desired state of an LLMTrainingJob.");

export const ObjectMeta = z
  .looseObject({
    name: z.string().max(253).optional().describe("Name of the job."),
    namespace: z.string().max(63).optional().describe("Namespace of the job."),
    generateName: z.string().max(253).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    generation: z.int().optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
  })
  .describe("Standard object metadata.");

export const LLMTrainingJob = z
  .strictObject({
    apiVersion: z.literal(API_VERSION).describe("gantry.dev/v1alpha1."),
    kind: z.literal(KIND).describe("LLMTrainingJob."),
    metadata: ObjectMeta,
    spec: JobSpec,
    status: JobStatus.optional(),
  })
  .describe("LLMTrainingJob trains a decoder-only language model as a gang of worker pods, with checkpoint and exact resume.");

/** A job as written by a user: defaults not yet applied. */
export type LLMTrainingJobInput = z.input<typeof LLMTrainingJob>;
/** A validated job with every default applied. */
export type LLMTrainingJob = z.output<typeof LLMTrainingJob>;
export type JobSpec = z.output<typeof JobSpec>;
