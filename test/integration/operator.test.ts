// The operator on the real control plane: gangs are created in one burst, restarted whole after preemption or
// failure, succeed, suspend and resume. KWOK runs the pods; tests end them with gantry.dev/simulate-exit-code.
import { CoreV1Api, CustomObjectsApi, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { progressKey } from "@gantry/crds";
import type { Controller } from "../../operator/src/controller/controller.js";
import { ensureCrd, freshNamespace, kubeConfig, kubectl, type TestNamespace } from "../support/kube.js";
import { JOB_API, TestJobs } from "../support/jobs.js";
import { startOperator } from "../support/operator.js";
import { redisClient } from "../support/services.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const kc = kubeConfig(env);
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
let ns: TestNamespace;
let operator: Controller;

beforeAll(async () => {
  await ensureCrd(env);
  ns = await freshNamespace(kc, "op");
  await waitFor("the default ServiceAccount", () => core.readNamespacedServiceAccount({ name: "default", namespace: ns.name }), () => true);
  operator = await startOperator(kc, env, ns.name, { backoff: { failureBaseSeconds: 1, failureMaxSeconds: 2, gangRetrySeconds: 1 } });
});

afterAll(async () => {
  await operator?.stop();
  await ns?.delete();
});

const jobs = () => new TestJobs(kc, ns.name);
const createJob = (name: string, spec: Record<string, unknown> = {}) => jobs().create(name, spec);
const readJob = (name: string) => jobs().read(name);
const podsOf = (name: string) => jobs().pods(name);
const live = (pods: V1Pod[]) => pods.filter((p) => !p.metadata?.deletionTimestamp);
const annotate = (pod: string, code: number) => jobs().exit(pod, code);
const waitPhase = (name: string, phase: string) => jobs().waitPhase(name, phase);

describe("the operator", () => {
  it("creates the Service, PDB and every worker, then reports Running and its layout in kubectl get", async () => {
    await createJob("gang", { parallelism: { tensorParallel: 2 } });
    const job = await waitPhase("gang", "Running");
    const pods = await podsOf("gang");
    expect(pods.map((p) => p.metadata?.name).sort()).toEqual(["gang-0-0", "gang-0-1", "gang-0-2", "gang-0-3"]);
    for (const p of pods) {
      expect(p.metadata?.ownerReferences?.[0]?.uid).toBe(job.metadata.uid);
      expect(p.spec?.containers[0]?.resources?.limits?.["nvidia.com/gpu"]).toBe("1");
    }
    expect((await core.readNamespacedService({ name: "gang", namespace: ns.name })).spec?.clusterIP).toBe("None");
    expect(job.status?.workers).toEqual({ desired: 4, scheduled: 4, ready: 4, succeeded: 0, failed: 0 });
    expect(job.status?.parallelism).toEqual({ dataParallel: 2, tensorParallel: 2, pipelineParallel: 1, layout: "2x2x1" });
    const table = kubectl(env, ["get", "llmjob", "gang", "-n", ns.name]);
    expect(table.stdout).toMatch(/LAYOUT/);
    expect(table.stdout).toMatch(/gang\s+Running\s+4\/4\s+2x2x1\s+0\s+\d+s/);
    const events = kubectl(env, ["get", "events", "-n", ns.name, "--field-selector", "involvedObject.name=gang", "-o", "jsonpath={.items[*].reason}"]);
    expect(events.stdout).toContain("GangCreated");
  });

  it("restarts the whole gang as attempt 1 when a worker is deleted, counting a preemption", async () => {
    await createJob("preempt");
    await waitPhase("preempt", "Running");
    await core.deleteNamespacedPod({ name: "preempt-0-2", namespace: ns.name });
    const job = await waitFor("attempt 1 to run", () => readJob("preempt"), (j) => j.status?.attempt === 1 && j.status.phase === "Running", { timeoutMs: 60_000 });
    expect(job.status?.restarts).toEqual({ preemption: 1, failure: 0 });
    const pods = live(await podsOf("preempt"));
    expect(pods.map((p) => p.metadata?.name).sort()).toEqual(["preempt-1-0", "preempt-1-1", "preempt-1-2", "preempt-1-3"]);
  });

  it("restarts after a retryable exit with a failure counted, and fails at once on a permanent exit", async () => {
    await createJob("flaky");
    await waitPhase("flaky", "Running");
    await annotate("flaky-0-1", 1);
    const restarted = await waitFor("attempt 1 to run", () => readJob("flaky"), (j) => j.status?.attempt === 1 && j.status.phase === "Running", { timeoutMs: 60_000 });
    expect(restarted.status?.restarts).toEqual({ preemption: 0, failure: 1 });
    await annotate("flaky-1-3", 3);
    const failed = await waitPhase("flaky", "Failed");
    expect(failed.status?.conditions?.find((c) => c.type === "Failed")).toMatchObject({ status: "True", reason: "InvalidData" });
    await waitFor("flaky's pods to be cleaned up", async () => live(await podsOf("flaky")), (p) => p.length === 0);
  });

  it("succeeds when worker 0 exits 0, and cleans up", async () => {
    await createJob("done");
    await waitPhase("done", "Running");
    await annotate("done-0-0", 0);
    const job = await waitPhase("done", "Succeeded");
    expect(job.status?.completionTime).toBeDefined();
    await waitFor("done's pods to go", async () => live(await podsOf("done")), (p) => p.length === 0);
  });

  it("mirrors the trainer's progress record from Redis into status and kubectl get", async () => {
    await createJob("progress");
    const job = await waitPhase("progress", "Running");
    const redis = redisClient(env);
    await redis.connect();
    await redis.hset(progressKey(job.metadata.uid), { step: "42", totalSteps: "100", loss: "3.14159", tokensPerSecond: "12345.6", etaSeconds: "60", checkpointStep: "40", checkpointUri: "s3://gantry/ckpt/step-40" });
    redis.disconnect();
    const updated = await waitFor("progress in status", () => readJob("progress"), (j) => j.status?.progress?.step === 42);
    expect(updated.status?.progress).toEqual({ step: 42, totalSteps: 100, loss: "3.142", tokensPerSecond: 12346, etaSeconds: 60, lastCheckpoint: { step: 40, uri: "s3://gantry/ckpt/step-40" } });
    expect(kubectl(env, ["get", "llmjob", "progress", "-n", ns.name]).stdout).toMatch(/progress\s+Running\s+4\/4\s+4x1x1\s+42\s+3\.142\s+0\s/);
  });

  it("suspends (pods deleted) and resumes as a new attempt", async () => {
    await createJob("pause");
    await waitPhase("pause", "Running");
    await custom.patchNamespacedCustomObject({ ...JOB_API, namespace: ns.name, name: "pause", body: [{ op: "replace", path: "/spec/suspend", value: true }] });
    await waitPhase("pause", "Suspended");
    await waitFor("pause's pods to go", async () => live(await podsOf("pause")), (p) => p.length === 0);
    await custom.patchNamespacedCustomObject({ ...JOB_API, namespace: ns.name, name: "pause", body: [{ op: "replace", path: "/spec/suspend", value: false }] });
    const resumed = await waitPhase("pause", "Running");
    expect(resumed.status?.attempt).toBe(1);
    expect(resumed.status?.restarts).toEqual({ preemption: 0, failure: 0 });
  });
});
