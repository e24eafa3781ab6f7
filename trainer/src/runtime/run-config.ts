// What one trainer process runs: the validated job spec and its place in the world. Two sources, both pure:
// the environment the operator gives a worker pod (crds POD_ENV), or a manifest file for `gantry-train`.
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parse as parseYaml } from "yaml";
import { EXIT, MASTER_PORT, POD_ENV, describeIssues, parseJob, type JobSpec } from "@gantry/crds";

export interface S3Settings {
  endpoint?: string;
  region: string;
  pathStyle: boolean;
  accessKey?: string;
  secretKey?: string;
  sessionToken?: string;
}

export interface RunConfig {
  job: { name: string; namespace: string; uid: string };
  spec: JobSpec;
  attempt: number;
  rank: number;
  worldSize: number;
  /** Address this rank's collective transport listens on and advertises to the others. */
  host: string;
  port: number;
  checkpointUri: string;
  /** Absent when running locally: data state then lives only in the checkpoint manifests. */
  redisUrl?: string;
  s3: S3Settings;
  /** Local runs: where the loss plot and run files go. */
  outDir?: string;
}

/** A configuration that cannot work; the trainer exits with EXIT.badConfig and this message. */
export class ConfigError extends Error {
  readonly exitCode = EXIT.badConfig;
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function validSpec(spec: unknown, meta: { name: string; namespace: string; uid: string }, origin: string): JobSpec {
  const parsed = parseJob({ apiVersion: "gantry.dev/v1alpha1", kind: "LLMTrainingJob", metadata: meta, spec });
  if (!parsed.ok) throw new ConfigError(`invalid job spec in ${origin}: ${describeIssues(parsed.issues)}`);
  return parsed.job.spec;
}

function required(env: Env, name: string): string {
  const v = env[name];
  if (v === undefined || v === "") throw new ConfigError(`environment variable ${name} is not set`);
  return v;
}

function count(env: Env, name: string, min: number): number {
  const raw = required(env, name);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`environment variable ${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

function s3From(env: Env, spec: JobSpec): S3Settings {
  const out: S3Settings = { region: env[POD_ENV.s3Region] ?? spec.data.s3.region, pathStyle: (env[POD_ENV.s3ForcePathStyle] ?? String(spec.data.s3.forcePathStyle)) !== "false" };
  const put = (key: "endpoint" | "accessKey" | "secretKey" | "sessionToken", name: string) => {
    const v = env[name];
    if (v !== undefined && v !== "") out[key] = v;
  };
  put("endpoint", POD_ENV.s3Endpoint);
  put("accessKey", POD_ENV.s3AccessKeyId);
  put("secretKey", POD_ENV.s3SecretAccessKey);
  put("sessionToken", POD_ENV.s3SessionToken);
  return out;
}

/** The configuration of a worker pod's rank, from the operator's environment contract. */
export function fromPodEnv(env: Env, localRank = 0): RunConfig {
  const job = { name: required(env, POD_ENV.jobName), namespace: required(env, POD_ENV.jobNamespace), uid: required(env, POD_ENV.jobUid) };
  let raw: unknown;
  try {
    raw = JSON.parse(required(env, POD_ENV.spec));
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`${POD_ENV.spec} is not JSON: ${(e as Error).message}`);
  }
  const spec = validSpec(raw, job, POD_ENV.spec);
  const worldSize = count(env, POD_ENV.worldSize, 1);
  const rank = count(env, POD_ENV.rankBase, 0) + localRank;
  if (rank >= worldSize) throw new ConfigError(`rank ${rank} is outside a world of ${worldSize}`);
  const out: RunConfig = {
    job,
    spec,
    attempt: count(env, POD_ENV.attempt, 0),
    rank,
    worldSize,
    host: env[POD_ENV.podIp] || "127.0.0.1",
    // MASTER_PORT=0 listens on any free port (several ranks on one host, as in tests); the rendezvous publishes it.
    port: env[POD_ENV.masterPort] === "0" ? 0 : (env[POD_ENV.masterPort] ? count(env, POD_ENV.masterPort, 1) : MASTER_PORT) + localRank,
    checkpointUri: spec.checkpointing.uri ?? required(env, POD_ENV.checkpointUri),
    s3: s3From(env, spec),
  };
  const redis = env[POD_ENV.redisUrl];
  if (redis) out.redisUrl = redis;
  return out;
}

export interface LocalOptions {
  /** Folder for checkpoints, data state and the loss plot (default ./gantry-runs/<job name>). */
  outDir?: string;
  /** Override spec.training.steps, for quick looks. */
  steps?: number;
  env?: Env;
}

/** A local run of a manifest file: one rank, no Kubernetes, Redis or S3 unless the spec or environment names them. */
export function fromManifest(text: string, path: string, options: LocalOptions = {}): RunConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${path} is not YAML: ${(e as Error).message}`);
  }
  const obj = (doc ?? {}) as { metadata?: { name?: unknown; namespace?: unknown }; spec?: Record<string, unknown> };
  const name = typeof obj.metadata?.name === "string" ? obj.metadata.name : "local";
  const namespace = typeof obj.metadata?.namespace === "string" ? obj.metadata.namespace : "default";
  const spec0 = obj.spec ?? {};
  const training = (spec0["training"] ?? {}) as Record<string, unknown>;
  const withSteps = options.steps === undefined ? spec0 : { ...spec0, training: { ...training, steps: options.steps, tokens: undefined } };
  const job = { name, namespace, uid: `local-${name}` };
  const spec = validSpec(JSON.parse(JSON.stringify(withSteps)) as unknown, job, path);
  const outDir = resolve(options.outDir ?? join("gantry-runs", name));
  const env = options.env ?? {};
  const out: RunConfig = {
    job,
    spec,
    attempt: 0,
    rank: 0,
    worldSize: 1,
    host: "127.0.0.1",
    port: 0,
    checkpointUri: spec.checkpointing.uri ?? pathToFileURL(join(outDir, "checkpoints")).href,
    s3: s3From(env, spec),
    outDir,
  };
  const redis = env[POD_ENV.redisUrl];
  if (redis) out.redisUrl = redis;
  return out;
}
