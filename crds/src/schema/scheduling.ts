import { z } from "zod";
import { dnsSubdomain, quantity, secretKeyRef } from "./primitives.js";

/** Kubernetes label keys and values (qualified names), kept loose: the API server validates them on the pods. */
const labelMap = (what: string) => z.record(z.string().max(317), z.string().max(63)).describe(what);

export const Toleration = z
  .strictObject({
    key: z.string().max(317).optional().describe("Taint key the toleration applies to; empty matches all keys with operator Exists."),
    operator: z.enum(["Exists", "Equal"]).default("Equal").describe("Exists or Equal."),
    value: z.string().max(63).optional().describe("Taint value to match with operator Equal."),
    effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional().describe("Taint effect to match; empty matches all."),
    tolerationSeconds: z.int().min(0).optional().describe("How long a NoExecute taint is tolerated before eviction."),
  })
  .describe("A core/v1 Toleration.");

export const Resources = z
  .strictObject({
    gpusPerWorker: z.int().min(0).max(16).default(1).describe("GPUs per worker pod; each GPU runs one rank. 0 runs one CPU rank per worker."),
    gpuResourceName: z
      .string()
      .max(253)
      .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, {
        message: "must be an extended resource name such as nvidia.com/gpu",
      })
      .default("nvidia.com/gpu")
      .describe("Extended resource that counts GPUs on the nodes."),
    cpu: quantity("CPU request and limit per worker.").default("4"),
    memory: quantity("Memory request and limit per worker.").default("16Gi"),
    ephemeralStorage: quantity("Ephemeral storage request per worker (shard cache, scratch).").optional(),
    sharedMemory: quantity("Size of the in-memory /dev/shm volume per worker.").default("1Gi"),
  })
  .describe("Compute resources of each worker pod.");

export const Elastic = z
  .strictObject({
    minWorkers: z.int().min(1).max(4096).describe("Fewest workers the job runs with; below this it waits."),
    maxWorkers: z.int().min(1).max(4096).describe("Most workers the job scales to."),
  })
  .describe("Elastic sizing: the operator runs between minWorkers and maxWorkers as capacity allows; scale through the scale subresource.");

export const Scheduling = z
  .strictObject({
    nodeSelector: labelMap("Node labels every worker requires.").optional(),
    tolerations: z.array(Toleration).max(64).optional().describe("Tolerations of every worker, for example for spot or GPU taints."),
    affinity: z
      .record(z.string(), z.unknown())
      .meta({ "x-kubernetes-preserve-unknown-fields": true })
      .optional()
      .describe("A core/v1 Affinity, copied to every worker as written; the API server validates it when the pods are created."),
    priorityClassName: dnsSubdomain("PriorityClass of the worker pods.").optional(),
    schedulerName: dnsSubdomain("Scheduler for the worker pods. Defaults to the cluster's default scheduler.").optional(),
    terminationGracePeriodSeconds: z
      .int()
      .min(0)
      .max(86_400)
      .default(120)
      .describe("Time between SIGTERM and SIGKILL; the trainer saves a checkpoint in it when checkpointing.saveOnPreemption is set."),
    gangTimeoutSeconds: z
      .int()
      .min(1)
      .max(604_800)
      .default(1800)
      .describe("How long the gang may wait for all workers to be scheduled (for example while an autoscaler adds nodes) before it is marked stuck."),
  })
  .describe("Where and how the worker pods are scheduled.");

export const RunPolicy = z
  .strictObject({
    backoffLimit: z.int().min(0).max(1000).default(3).describe("Gang restarts allowed after application failures (non-zero exits). Preemptions do not count."),
    maxPreemptions: z
      .int()
      .min(0)
      .max(100_000)
      .default(100)
      .describe("Gang restarts allowed after preemption, eviction or node loss; counted separately from backoffLimit."),
    activeDeadlineSeconds: z.int().min(1).optional().describe("Fail the job when it has been active longer than this."),
    ttlSecondsAfterFinished: z.int().min(0).optional().describe("Delete the job this long after it succeeds or fails."),
  })
  .describe("Failure budgets and lifetime. Suspension is spec.suspend.");

export const Redis = z
  .strictObject({
    url: z
      .string()
      .max(512)
      .regex(/^rediss?:\/\/[^\s/@]+(\/[0-9]{1,2})?$/, { message: "must be redis://host:port[/db] with no password in it; use secretRef for credentials" })
      .optional()
      .describe("Redis URL without credentials, for example redis://redis.gantry:6379/0."),
    secretRef: secretKeyRef("A Secret holding the Redis URL, credentials included.", "url")
      .optional()
      .describe("A Secret holding the full Redis URL, for Redis servers that need a password."),
  })
  .describe("Where the dataloader keeps its offsets. Defaults to the operator's configured Redis.");
