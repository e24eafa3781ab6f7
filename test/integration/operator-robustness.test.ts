// The operator survives its own restarts and the API server's: all state lives in the API server, so a new process
// creates no duplicate pods, and dropped watches recover. Also: deadlines, elastic scaling with kubectl scale.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Controller } from "../../operator/src/controller/controller.js";
import { CLUSTER_SCRIPT, stateDir } from "../support/cluster-env.js";
import { ensureCrd, freshNamespace, kubeConfig, kubectl, type TestNamespace } from "../support/kube.js";
import { JOB_API, TestJobs } from "../support/jobs.js";
import { startOperator } from "../support/operator.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const kc = kubeConfig(env);
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
let ns: TestNamespace;
let operator: Controller | undefined;

beforeAll(async () => {
  await ensureCrd(env);
  ns = await freshNamespace(kc, "robust");
  await waitFor("the default ServiceAccount", () => core.readNamespacedServiceAccount({ name: "default", namespace: ns.name }), () => true);
});
afterAll(async () => {
  await operator?.stop();
  await ns?.delete();
});

const jobs = () => new TestJobs(kc, ns.name, {
  data: { source: "file:///data" },
  training: { steps: 10, globalBatchSize: 16, microBatchSize: 4 },
  workers: 4,
  resources: { gpusPerWorker: 0, cpu: "100m", memory: "64Mi" },
});
const createJob = (name: string, spec: Record<string, unknown> = {}) => jobs().create(name, spec);
const readJob = (name: string) => jobs().read(name);
const podNames = async (name: string) => (await jobs().pods(name)).map((p) => p.metadata?.name ?? "").sort();
const waitRunning = (name: string, timeoutMs = 60_000) => jobs().waitPhase(name, "Running", undefined, timeoutMs);

describe("operator restarts", () => {
  it("a new operator process takes over a half-created job without duplicating pods", async () => {
    operator = await startOperator(kc, env, ns.name);
    await createJob("resume");
    await waitRunning("resume");
    const before = await podNames("resume");
    await operator.stop();
    // Kill a worker while no operator runs, then start a fresh one: it must see the gap and restart the gang once.
    await core.deleteNamespacedPod({ name: "resume-0-1", namespace: ns.name });
    operator = await startOperator(kc, env, ns.name);
    const after = await waitFor("attempt 1 to run", () => readJob("resume"), (j) => j.status?.attempt === 1 && j.status.phase === "Running");
    expect(before).toEqual(["resume-0-0", "resume-0-1", "resume-0-2", "resume-0-3"]);
    expect(after.status?.restarts).toEqual({ preemption: 1, failure: 0 });
    await waitFor("only attempt 1's pods", () => podNames("resume"), (n) => n.join() === "resume-1-0,resume-1-1,resume-1-2,resume-1-3");
    // And a third process, started on a steady job, changes nothing.
    await operator.stop();
    const rv = (await custom.getNamespacedCustomObject({ ...JOB_API, namespace: ns.name, name: "resume" })) as { metadata: { resourceVersion: string } };
    operator = await startOperator(kc, env, ns.name);
    await new Promise((r) => setTimeout(r, 2000));
    const still = (await custom.getNamespacedCustomObject({ ...JOB_API, namespace: ns.name, name: "resume" })) as { metadata: { resourceVersion: string } };
    expect(still.metadata.resourceVersion).toBe(rv.metadata.resourceVersion);
    expect(await podNames("resume")).toEqual(["resume-1-0", "resume-1-1", "resume-1-2", "resume-1-3"]);
  });

  it("recovers its watches when the kube-apiserver restarts", async () => {
    operator ??= await startOperator(kc, env, ns.name);
    const pidFile = join(stateDir(), "cluster", "pids", "apiserver.pid");
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    // Exited, or a zombie nobody reaps: either way it no longer serves.
    const gone = () => {
      try {
        return readFileSync(`/proc/${pid}/stat`, "utf8").split(" ")[2] === "Z";
      } catch {
        return true;
      }
    };
    try {
      // A crash, not a graceful stop: every watch drops at once.
      process.kill(pid, "SIGKILL");
      await waitFor("the API server to die", gone, (x) => x, { timeoutMs: 30_000 });
    } finally {
      const up = spawnSync("bash", [CLUSTER_SCRIPT, "up"], { encoding: "utf8", timeout: 180_000 });
      expect(up.status, up.stderr).toBe(0);
    }
    await createJob("after-restart");
    await waitRunning("after-restart", 90_000);
    expect(await podNames("after-restart")).toHaveLength(4);
  });
});

describe("deadlines and elastic scaling", () => {
  it("fails a job that outlives activeDeadlineSeconds with DeadlineExceeded", async () => {
    operator ??= await startOperator(kc, env, ns.name);
    await createJob("deadline", { runPolicy: { activeDeadlineSeconds: 3 } });
    const j = await waitFor("DeadlineExceeded", () => readJob("deadline"), (x) => x.status?.phase === "Failed", { timeoutMs: 30_000 });
    expect(j.status?.conditions?.find((c) => c.type === "Failed")?.reason).toBe("DeadlineExceeded");
  });

  it("kubectl scale changes an elastic job's size at the next attempt boundary", async () => {
    operator ??= await startOperator(kc, env, ns.name);
    await createJob("elastic", { workers: 2, elastic: { minWorkers: 1, maxWorkers: 4 }, training: { steps: 10, globalBatchSize: 24, microBatchSize: 2 } });
    await waitRunning("elastic");
    const scaled = kubectl(env, ["scale", "llmjob/elastic", "-n", ns.name, "--replicas", "3"]);
    expect(scaled.stdout).toContain("scaled");
    const job = (await custom.getNamespacedCustomObject({ ...JOB_API, namespace: ns.name, name: "elastic" })) as { spec: { workers: number } };
    expect(job.spec.workers).toBe(3);
    // Still two workers until the next attempt.
    expect(await podNames("elastic")).toEqual(["elastic-0-0", "elastic-0-1"]);
    await core.deleteNamespacedPod({ name: "elastic-0-0", namespace: ns.name });
    await waitFor("attempt 1 with three workers", () => podNames("elastic"), (n) => n.join() === "elastic-1-0,elastic-1-1,elastic-1-2");
    const grown = await waitRunning("elastic");
    expect(grown.status?.workersReady).toBe("3/3");
  });
});

