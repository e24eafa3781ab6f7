// The operator's own configuration, read from the environment (the Helm chart sets these). One zod schema, so a bad
// value stops the operator at start with the variable's name.
import { z } from "zod";

const list = z
  .string()
  .transform((s) => s.split(",").map((x) => x.trim()).filter((x) => x !== ""));

export const OperatorConfig = z.object({
  trainerImage: z.string().min(1).default("ghcr.io/gantry-dev/trainer:0.1.0").describe("GANTRY_TRAINER_IMAGE: image of jobs that name none."),
  trainerCommand: z
    .string()
    .transform((s, ctx) => {
      try {
        const v: unknown = JSON.parse(s);
        if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
      } catch {
        // reported below
      }
      ctx.addIssue({ code: "custom", message: "must be a JSON array of strings" });
      return z.NEVER;
    })
    .optional()
    .describe("GANTRY_TRAINER_COMMAND: container command as a JSON array; by default the image's entrypoint."),
  redisUrl: z.string().regex(/^rediss?:\/\//).optional().describe("GANTRY_REDIS_URL: Redis of jobs that name none."),
  s3Endpoint: z.string().regex(/^https?:\/\//).optional().describe("GANTRY_S3_ENDPOINT: S3 endpoint of jobs that name none."),
  checkpointBase: z.string().min(1).default("file:///checkpoints").describe("GANTRY_CHECKPOINT_BASE: checkpoints of jobs that name no URI go under <base>/<namespace>/<name>."),
  watchNamespaces: list.default([]).describe("GANTRY_WATCH_NAMESPACES: comma-separated namespaces to watch; empty watches all."),
  concurrency: z.coerce.number().int().min(1).max(64).default(8).describe("GANTRY_CONCURRENCY: jobs reconciled at once."),
  httpPort: z.coerce.number().int().min(0).max(65535).default(8080).describe("GANTRY_HTTP_PORT: /healthz, /readyz and /metrics."),
  logLevel: z.enum(["error", "warn", "info", "debug"]).default("info").describe("GANTRY_LOG_LEVEL."),
  leaderElection: z
    .enum(["true", "false"])
    .default("true")
    .transform((s) => s === "true")
    .describe("GANTRY_LEADER_ELECTION: run only while holding the Lease."),
  leaseNamespace: z.string().min(1).default("gantry-system").describe("GANTRY_LEASE_NAMESPACE: where the leader Lease lives."),
  identity: z.string().min(1).optional().describe("POD_NAME: this replica's name in the Lease; defaults to the hostname."),
});

export type OperatorConfig = z.output<typeof OperatorConfig>;

const ENV: Record<keyof OperatorConfig, string> = {
  trainerImage: "GANTRY_TRAINER_IMAGE",
  trainerCommand: "GANTRY_TRAINER_COMMAND",
  redisUrl: "GANTRY_REDIS_URL",
  s3Endpoint: "GANTRY_S3_ENDPOINT",
  checkpointBase: "GANTRY_CHECKPOINT_BASE",
  watchNamespaces: "GANTRY_WATCH_NAMESPACES",
  concurrency: "GANTRY_CONCURRENCY",
  httpPort: "GANTRY_HTTP_PORT",
  logLevel: "GANTRY_LOG_LEVEL",
  leaderElection: "GANTRY_LEADER_ELECTION",
  leaseNamespace: "GANTRY_LEASE_NAMESPACE",
  identity: "POD_NAME",
};

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid operator configuration: ${issues.join("; ")}`);
    this.name = "ConfigError";
  }
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const input: Record<string, string> = {};
  for (const [key, variable] of Object.entries(ENV)) {
    const v = env[variable];
    if (v !== undefined && v !== "") input[key] = v;
  }
  const r = OperatorConfig.safeParse(input);
  if (!r.success) {
    throw new ConfigError(r.error.issues.map((i) => `${ENV[String(i.path[0]) as keyof OperatorConfig] ?? String(i.path[0])}: ${i.message}`));
  }
  return r.data;
}
