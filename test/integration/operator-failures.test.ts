// The operator's remaining contracts on the real control plane, on nodes of this test's own pool: OOMKilled workers,
// a node whose kubelet stops, drains refused by the gang's PDB, an elastic gang that runs with the workers that fit,
// TTL after finish, and a spec that slipped past an older, permissive CRD.
import type { V1Pod } from "@kubernetes/client-node";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse as parseYaml, stringify } from "yaml";
import type { Controller } from "../../operator/src/controller/controller.js";
import { ensureCrd, kubeConfig, kubectl, type TestNamespace } from "../support/kube.js";
import { Nodes } from "../support/nodes.js";
import { JOB_API, TestJobs } from "../support/jobs.js";
import { operatorTestbed, type OperatorTestbed } from "../support/operator.js";
import type { PrivatePool } from "../support/private-pool.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const kc = kubeConfig(env);
const nodes = new Nodes(kc);
let ns: TestNamespace;
let operator: Controller;
let pool: PrivatePool;
let bed: OperatorTestbed;

beforeAll(async () => {
  bed = await operatorTestbed(kc, env, "fail", { forceDeleteSeconds: 2, nodeLostSeconds: 3, backoff: { failureBaseSeconds: 1, failureMaxSeconds: 2, gangRetrySeconds: 1 } });
  ({ ns, pool, operator } = bed);
});

afterAll(() => bed?.close());

const addNode = (name: string, gpus: number) => pool.add(name, gpus);

const removeNodes = () => pool.clear();

const jobs = () => new TestJobs(kc, ns.name);
const createJob = (name: string, spec: Record<string, unknown> = {}) => jobs().create(name, { workers: 2, scheduling: pool.scheduling(), ...spec });
const worker = (pods: V1Pod[], w: number) => pods.find((p) => p.metadata?.labels?.["gantry.dev/worker"] === String(w))?.metadata?.name ?? "";
const attemptOf = (p: V1Pod) => p.metadata?.labels?.["gantry.dev/attempt"];

describe("worker failures", () => {
  it("reports an OOMKilled worker as such, counts a failure and restarts the gang after backoff", async () => {
    await addNode("oom", 2);
    await createJob("oom");
    await jobs().waitPhase("oom", "Running", 0);
    await jobs().exit(worker(await jobs().livePods("oom"), 1), 137, "OOMKilled");
    const restarted = await waitFor("attempt 1", () => jobs().read("oom"), (j) => (j.status?.attempt ?? 0) >= 1);
    expect(restarted.status?.restarts).toEqual({ preemption: 0, failure: 1 });
    const events = await waitFor("the OOMKilled event", () => jobs().events("oom"), (es) => es.some((e) => e.reason === "OOMKilled"));
    expect(events.find((e) => e.reason === "OOMKilled")).toMatchObject({ type: "Warning", message: expect.stringContaining("exited 137") });
    const back = await jobs().waitPhase("oom", "Running", 1);
    expect(new Set((await jobs().livePods("oom")).map(attemptOf))).toEqual(new Set(["1"]));
    expect(back.status?.restarts).toEqual({ preemption: 0, failure: 1 });
    await jobs().delete("oom");
  });
});

describe("node trouble", () => {
  it("restarts the gang as a preemption when its node stays NotReady past the grace period", async () => {
    await removeNodes();
    const sick = await addNode("sick", 2);
    await createJob("sick", { scheduling: pool.scheduling({ "kubernetes.io/hostname": sick }) });
    await jobs().waitPhase("sick", "Running", 0);
    await nodes.markNotReady(sick);
    const j = await waitFor("a restart for the NotReady node", () => jobs().read("sick"), (x) => (x.status?.attempt ?? 0) >= 1, { timeoutMs: 60_000 });
    expect(j.status?.restarts).toEqual({ preemption: 1, failure: 0 });
    expect(j.status?.conditions?.find((c) => c.type === "Restarting")?.reason).toBe("NodeNotReady");
    // The pods on the dead node never confirm their deletion; they are force-deleted, so the job does not hang.
    await waitFor("the old gang to be gone", async () => (await jobs().pods("sick")).filter((p) => attemptOf(p) === "0"), (p) => p.length === 0, { timeoutMs: 30_000 });
    await jobs().delete("sick");
  });

  it("a drain is refused by the gang's PodDisruptionBudget while the job runs", async () => {
    await removeNodes();
    const node = await addNode("drain", 2);
    await createJob("guarded");
    await jobs().waitPhase("guarded", "Running", 0);
    const refused = await nodes.drain(node).then(
      () => undefined,
      (e: unknown) => e as { code?: number; body?: string },
    );
    expect(refused?.code).toBe(429);
    expect(refused?.body).toContain("disruption budget");
    const j = await jobs().read("guarded");
    expect(j.status).toMatchObject({ phase: "Running", attempt: 0, restarts: { preemption: 0, failure: 0 } });
    expect((await jobs().livePods("guarded")).map(attemptOf)).toEqual(["0", "0"]);
    await nodes.cordon(node, false);
    await jobs().delete("guarded");
  });
});

describe("elastic gangs", () => {
  it("runs with the k >= minWorkers workers that fit when the full gang cannot be scheduled in time", async () => {
    await removeNodes();
    await addNode("elastic", 2);
    await createJob("shrink", { workers: 4, elastic: { minWorkers: 1, maxWorkers: 4 } });
    const running = await jobs().waitPhase("shrink", "Running", undefined, 60_000);
    expect(running.status?.workers).toMatchObject({ desired: 2, ready: 2 });
    const pods = await jobs().livePods("shrink");
    expect(pods).toHaveLength(2);
    // Every pod of the smaller attempt is told the world it belongs to.
    for (const pod of pods) expect(pod.spec?.containers[0]?.env?.find((e) => e.name === "WORLD_SIZE")?.value).toBe("2");
    await jobs().delete("shrink");
  });
});

describe("finished jobs", () => {
  it("deletes a finished job after ttlSecondsAfterFinished", async () => {
    await removeNodes();
    await addNode("ttl", 2);
    await createJob("ttl", { runPolicy: { ttlSecondsAfterFinished: 2 } });
    await jobs().waitPhase("ttl", "Running", 0);
    await jobs().exit(worker(await jobs().livePods("ttl"), 0), 0);
    await jobs().waitPhase("ttl", "Succeeded");
    await waitFor("the job to be deleted", () => jobs().read("ttl").then(() => "present", () => "gone"), (s) => s === "gone", { timeoutMs: 30_000 });
  });
});

describe("a spec that slipped past the CRD", () => {
  // An older CRD without validation, as when the operator was upgraded before the CRD: the operator must still
  // refuse the spec, say where and why, and start nothing.
  it("gets condition Invalid and a Warning event with the field path, and no pods", async () => {
    const crd = parseYaml(readFileSync(join(import.meta.dirname, "..", "..", "crds", "llmtrainingjob.yaml"), "utf8")) as {
      spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: unknown } } } }[] };
    };
    for (const v of crd.spec.versions) v.schema.openAPIV3Schema.properties.spec = { type: "object", "x-kubernetes-preserve-unknown-fields": true };
    try {
      const relaxed = kubectl(env, ["apply", "--server-side", "--force-conflicts", "-f", "-"], stringify(crd));
      expect(relaxed.code).toBe(0);
      await waitFor(
        "the permissive CRD to accept a bad spec",
        () => jobs().custom.createNamespacedCustomObject({
          ...JOB_API,
          namespace: ns.name,
          body: { apiVersion: "gantry.dev/v1alpha1", kind: "LLMTrainingJob", metadata: { name: "bad" }, spec: { workers: 2, data: { source: "file:///data" }, training: { steps: 10, globalBatchSize: 16, microBatchSize: 0 } } },
        }).then(() => true, () => false),
        (ok) => ok,
      );
      const invalid = await waitFor("condition Invalid", () => jobs().read("bad"), (j) => j.status?.conditions?.some((c) => c.type === "Invalid" && c.status === "True") ?? false);
      expect(invalid.status?.conditions?.find((c) => c.type === "Invalid")?.message).toContain("spec.training.microBatchSize");
      const events = await waitFor("the InvalidSpec event", () => jobs().events("bad"), (es) => es.some((e) => e.reason === "InvalidSpec"));
      expect(events.find((e) => e.reason === "InvalidSpec")?.message).toContain("spec.training.microBatchSize");
      expect(await jobs().pods("bad")).toEqual([]);
      // It stays that way, and the operator goes on serving other jobs.
      expect(operator.synced()).toBe(true);
    } finally {
      await ensureCrd(env);
    }
    await jobs().custom.deleteNamespacedCustomObject({ ...JOB_API, namespace: ns.name, name: "bad" });
  });
});
