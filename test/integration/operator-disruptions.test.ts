// The operator under disruption, on nodes of this test's own (tainted, labelled) pool: node loss, spot reclaim,
// two gangs competing for too few GPUs, and preemption by a higher-priority job through the real scheduler.
import type { V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { kubeConfig, kubectl, type TestNamespace } from "../support/kube.js";
import { Nodes } from "../support/nodes.js";
import { TestJobs } from "../support/jobs.js";
import { operatorTestbed, type OperatorTestbed } from "../support/operator.js";
import type { PrivatePool } from "../support/private-pool.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const kc = kubeConfig(env);
const nodes = new Nodes(kc);
let ns: TestNamespace;
let pool: PrivatePool;
let bed: OperatorTestbed;

beforeAll(async () => {
  bed = await operatorTestbed(kc, env, "disrupt", { forceDeleteSeconds: 2, nodeLostSeconds: 5, backoff: { failureBaseSeconds: 1, failureMaxSeconds: 2, gangRetrySeconds: 1 } });
  ({ ns, pool } = bed);
  const pc = kubectl(env, ["apply", "-f", "-"], stringify({ apiVersion: "scheduling.k8s.io/v1", kind: "PriorityClass", metadata: { name: "gantry-test-high" }, value: 100000 }));
  expect(pc.code).toBe(0);
});

afterAll(() => bed?.close());

const addNode = (name: string, gpus: number) => pool.add(name, gpus);

const jobs = () => new TestJobs(kc, ns.name);
/** A job pinned to this test's private pool; `scheduling` fields given here add to the pool's. */
const createJob = (name: string, spec: Record<string, unknown> = {}) =>
  jobs().create(name, { ...spec, scheduling: { ...pool.scheduling(), ...((spec["scheduling"] as object | undefined) ?? {}) } });
const deleteJob = (name: string) => jobs().delete(name);
const readJob = (name: string) => jobs().read(name);
const podsOf = (name: string) => jobs().pods(name);
const live = (pods: V1Pod[]) => pods.filter((p) => !p.metadata?.deletionTimestamp);
const finish = (pod: string) => jobs().exit(pod, 0);
const waitRunning = (name: string, attempt?: number, timeoutMs = 60_000) => jobs().waitPhase(name, "Running", attempt, timeoutMs);

describe("node loss and spot reclaim", () => {
  it("restarts the gang when its node disappears, and runs attempt 1 when capacity returns", async () => {
    const node = await addNode("lost", 4);
    await createJob("lost");
    await waitRunning("lost", 0);
    await nodes.remove(node);
    const restarting = await waitFor("a restart for the lost node", () => readJob("lost"), (j) => (j.status?.attempt ?? 0) >= 1);
    expect(restarting.status?.restarts).toEqual({ preemption: 1, failure: 0 });
    expect(restarting.status?.conditions?.find((c) => c.type === "Restarting")?.reason).toBe("NodeLost");
    // The old pods, stuck terminating on a node that is gone, are force-deleted; the new gang waits for capacity.
    await waitFor("the old gang to be gone", async () => (await podsOf("lost")).filter((p) => p.metadata?.labels?.["gantry.dev/attempt"] === "0"), (p) => p.length === 0, { timeoutMs: 30_000 });
    const waiting = await waitFor("attempt 1 to wait for capacity", () => readJob("lost"), (j) => j.status?.conditions?.find((c) => c.type === "GangScheduled")?.reason === "WaitingForCapacity");
    expect(waiting.status?.phase).toBe("Scheduling");
    await addNode("lost-again", 4);
    const back = await waitRunning("lost", 1);
    expect(back.status?.restarts).toEqual({ preemption: 1, failure: 0 });
    await deleteJob("lost");
  });

  it("restarts the gang when its spot node is tainted for reclaim", async () => {
    const spot = await addNode("spot", 4);
    await addNode("spare", 4);
    await createJob("spot", { scheduling: { nodeSelector: { "gantry.dev/test-pool": ns.name, "kubernetes.io/hostname": spot } } });
    await waitRunning("spot", 0);
    await nodes.reclaimSpot(spot);
    const j = await waitFor("a restart for the reclaim", () => readJob("spot"), (x) => (x.status?.attempt ?? 0) >= 1);
    expect(j.status?.restarts?.preemption).toBe(1);
    expect(["NodeReclaimed", "DeletionByTaintManager", "PodDeleted"]).toContain(j.status?.conditions?.find((c) => c.type === "Restarting")?.reason);
    await deleteJob("spot");
  });
});

describe("gangs competing for GPUs", () => {
  it("two 4-worker jobs on 6 GPUs never deadlock: one runs, then the other", async () => {
    await pool.clear();
    await addNode("pool-a", 3);
    await addNode("pool-b", 3);
    await createJob("first");
    await createJob("second");
    const winner = await waitFor(
      "one of the two jobs to run",
      async () => [await readJob("first"), await readJob("second")],
      (js) => js.some((j) => j.status?.phase === "Running"),
      { timeoutMs: 90_000 },
    );
    const [a, b] = winner;
    expect([a?.status?.phase, b?.status?.phase].filter((p) => p === "Running")).toHaveLength(1);
    const [won, lost] = a?.status?.phase === "Running" ? ["first", "second"] : ["second", "first"];
    const wonPods = live(await podsOf(won));
    await finish(wonPods.find((p) => p.metadata?.labels?.["gantry.dev/worker"] === "0")?.metadata?.name ?? "");
    await waitFor(`${won} to succeed`, () => readJob(won), (j) => j.status?.phase === "Succeeded");
    const other = await waitRunning(lost, undefined, 90_000);
    expect(other.status?.restarts).toEqual({ preemption: 0, failure: 0 });
    await deleteJob(lost);
  });
});

describe("priority", () => {
  it("a higher-priority job preempts a lower one, which resumes when the GPUs are free again", async () => {
    await pool.clear();
    await addNode("prio", 4);
    await createJob("low", { scheduling: { gangTimeoutSeconds: 600 } });
    await waitRunning("low", 0);
    await createJob("high", { scheduling: { priorityClassName: "gantry-test-high", gangTimeoutSeconds: 600 } });
    await waitRunning("high", 0, 90_000);
    const low = await waitFor("low to count a preemption", () => readJob("low"), (j) => (j.status?.restarts?.preemption ?? 0) >= 1);
    expect(low.status?.restarts?.failure).toBe(0);
    expect(low.status?.phase).not.toBe("Running");
    const highPods = live(await podsOf("high"));
    await finish(highPods.find((p) => p.metadata?.labels?.["gantry.dev/worker"] === "0")?.metadata?.name ?? "");
    await waitFor("high to succeed", () => readJob("high"), (j) => j.status?.phase === "Succeeded");
    const resumed = await waitRunning("low", undefined, 90_000);
    expect(resumed.status?.attempt).toBeGreaterThanOrEqual(1);
  });
});
