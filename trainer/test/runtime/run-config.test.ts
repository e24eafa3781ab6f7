import { describe, expect, it } from "vitest";
import { EXIT, POD_ENV } from "@gantry/crds";
import { ConfigError, fromManifest, fromPodEnv } from "../../src/runtime/run-config.js";

const spec = { data: { source: "file:///data", tokenizer: "bytes" }, training: { steps: 20, globalBatchSize: 8, microBatchSize: 4 }, workers: 2 };

const podEnv = (over: Record<string, string | undefined> = {}) => ({
  [POD_ENV.jobName]: "tiny",
  [POD_ENV.jobNamespace]: "ml",
  [POD_ENV.jobUid]: "uid-1",
  [POD_ENV.attempt]: "3",
  [POD_ENV.worldSize]: "2",
  [POD_ENV.rankBase]: "1",
  [POD_ENV.podIp]: "10.0.0.7",
  [POD_ENV.masterPort]: "29500",
  [POD_ENV.checkpointUri]: "s3://ckpt/ml/tiny",
  [POD_ENV.redisUrl]: "redis://redis:6379/0",
  [POD_ENV.s3Endpoint]: "http://s3:9000",
  [POD_ENV.s3AccessKeyId]: "AK",
  [POD_ENV.s3SecretAccessKey]: "SK",
  [POD_ENV.spec]: JSON.stringify(spec),
  ...over,
});

const configError = (f: () => unknown): ConfigError => {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
};

describe("a worker pod's configuration from the operator's environment", () => {
  it("reads rank, world, attempt, addresses, storage and a validated spec with defaults", () => {
    const c = fromPodEnv(podEnv());
    expect(c).toMatchObject({
      job: { name: "tiny", namespace: "ml", uid: "uid-1" },
      attempt: 3,
      rank: 1,
      worldSize: 2,
      host: "10.0.0.7",
      port: 29500,
      checkpointUri: "s3://ckpt/ml/tiny",
      redisUrl: "redis://redis:6379/0",
      s3: { endpoint: "http://s3:9000", accessKey: "AK", secretKey: "SK", region: "us-east-1", pathStyle: true },
    });
    expect(c.spec.training.optimizer.lr).toBe(3e-4);
    expect(c.spec.model.preset).toBe("tiny");
  });

  it("gives each local rank of a multi-GPU pod its own rank and port", () => {
    const env = podEnv({ [POD_ENV.worldSize]: "4", [POD_ENV.rankBase]: "2" });
    expect([fromPodEnv(env, 0), fromPodEnv(env, 1)].map((c) => [c.rank, c.port])).toEqual([
      [2, 29500],
      [3, 29501],
    ]);
  });

  it("names the field of an invalid spec, with the bad-config exit code", () => {
    const e = configError(() => fromPodEnv(podEnv({ [POD_ENV.spec]: JSON.stringify({ ...spec, training: { ...spec.training, microBatchSize: 0 } }) })));
    expect(e.message).toContain("spec.training.microBatchSize");
    expect(e.exitCode).toBe(EXIT.badConfig);
  });

  it("names a missing or malformed variable", () => {
    expect(configError(() => fromPodEnv(podEnv({ [POD_ENV.jobUid]: undefined }))).message).toContain(POD_ENV.jobUid);
    expect(configError(() => fromPodEnv(podEnv({ [POD_ENV.worldSize]: "two" }))).message).toContain(`${POD_ENV.worldSize} must be an integer`);
    expect(configError(() => fromPodEnv(podEnv({ [POD_ENV.spec]: "{" }))).message).toContain("is not JSON");
    expect(configError(() => fromPodEnv(podEnv({ [POD_ENV.rankBase]: "2" }))).message).toContain("rank 2 is outside a world of 2");
  });
});

describe("a local run from a manifest", () => {
  const manifest = `apiVersion: gantry.dev/v1alpha1\nkind: LLMTrainingJob\nmetadata:\n  name: tiny-local\nspec:\n  data: {source: "file:///tmp/corpus", tokenizer: bytes}\n  training: {steps: 200, globalBatchSize: 8, microBatchSize: 4}\n`;

  it("runs one rank with checkpoints in the output folder, and can shorten the run", () => {
    const c = fromManifest(manifest, "job.yaml", { outDir: "/tmp/run-x", steps: 5 });
    expect(c).toMatchObject({ rank: 0, worldSize: 1, attempt: 0, job: { name: "tiny-local", uid: "local-tiny-local" }, checkpointUri: "file:///tmp/run-x/checkpoints", outDir: "/tmp/run-x" });
    expect(c.spec.training.steps).toBe(5);
    expect(c.redisUrl).toBeUndefined();
  });

  it("names the file and field of a bad manifest", () => {
    expect(configError(() => fromManifest("spec: [", "bad.yaml")).message).toContain("bad.yaml is not YAML");
    const e = configError(() => fromManifest(manifest.replace("globalBatchSize: 8", "globalBatchSize: 7"), "job.yaml"));
    expect(e.message).toContain("invalid job spec in job.yaml");
    expect(e.message).toContain("spec.training");
  });
});
