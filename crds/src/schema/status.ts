import { z } from "zod";

const time = (what: string) => z.string().max(64).describe(`${what} (RFC 3339).`);
const count = (what: string) => z.int().min(0).describe(what);

export const JOB_PHASES = ["Pending", "Scheduling", "Running", "Restarting", "Suspended", "Succeeded", "Failed"] as const;

export const Condition = z
  .strictObject({
    type: z.string().min(1).max(316).describe("Condition type, for example Ready, GangScheduled, Succeeded, Failed, Invalid."),
    status: z.enum(["True", "False", "Unknown"]).describe("True, False or Unknown."),
    reason: z.string().min(1).max(1024).regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/).describe("CamelCase reason for the last transition."),
    message: z.string().max(32_768).describe("Human-readable detail."),
    lastTransitionTime: time("When the status last changed"),
    observedGeneration: z.int().min(0).optional().describe("The .metadata.generation the condition was set for."),
  })
  .describe("A metav1.Condition.");

export const JobStatus = z
  .strictObject({
    phase: z.enum(JOB_PHASES).optional().describe("Where the job is in its lifecycle."),
    conditions: z
      .array(Condition)
      .max(32)
      .optional()
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] })
      .describe("Latest observations of the job's state."),
    observedGeneration: z.int().min(0).optional().describe("The .metadata.generation the status reflects."),
    attempt: count("Gang attempt number, starting at 0; each gang restart adds one.").optional(),
    restarts: z
      .strictObject({
        preemption: count("Gang restarts caused by preemption, eviction or node loss."),
        failure: count("Gang restarts caused by application failures."),
      })
      .optional()
      .describe("Gang restarts by cause."),
    workers: z
      .strictObject({
        desired: count("Workers the job wants now."),
        scheduled: count("Workers bound to a node."),
        ready: count("Workers running and ready."),
        succeeded: count("Workers that exited 0 in this attempt."),
        failed: count("Workers that failed in this attempt."),
      })
      .optional()
      .describe("Worker counts of the current attempt."),
    workersReady: z.string().max(32).optional().describe("ready/desired, for kubectl get."),
    selector: z.string().max(1024).optional().describe("Label selector of the worker pods, for the scale subresource."),
    progress: z
      .strictObject({
        step: count("Last completed optimizer step."),
        totalSteps: count("Steps the job will run.").optional(),
        loss: z.string().max(32).optional().describe("Latest training loss, formatted for display."),
        tokensPerSecond: z.number().min(0).optional().describe("Training throughput over the last reporting window."),
        etaSeconds: count("Estimated seconds until the last step.").optional(),
        lastCheckpoint: z
          .strictObject({
            step: count("Step of the newest committed checkpoint."),
            uri: z.string().max(2048).describe("Where it is."),
            time: time("When it was committed").optional(),
          })
          .optional()
          .describe("The newest committed checkpoint, the one a restart resumes from."),
      })
      .optional()
      .describe("Training progress reported by rank 0."),
    parallelism: z
      .strictObject({
        dataParallel: z.int().min(1).describe("Data-parallel degree: ranks / (tensorParallel × pipelineParallel)."),
        tensorParallel: z.int().min(1).describe("Tensor-parallel degree."),
        pipelineParallel: z.int().min(1).describe("Pipeline-parallel degree."),
        layout: z.string().max(64).describe("dataParallel x tensorParallel x pipelineParallel, for kubectl get (for example 2x2x1)."),
      })
      .optional()
      .describe("How the current attempt's ranks split into data, tensor and pipeline parallelism."),
    attemptStartTime: time("When the current attempt's pods were created").optional(),
    nextAttemptTime: time("Not before this time will the next attempt's pods be created (restart backoff)").optional(),
    startTime: time("When the first attempt started").optional(),
    completionTime: time("When the job succeeded or failed").optional(),
  })
  .describe("Observed state of an LLMTrainingJob, written by the operator.");

export type JobStatus = z.output<typeof JobStatus>;
export type Condition = z.output<typeof Condition>;
