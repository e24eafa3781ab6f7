// plan() without a cluster: the lifecycle, failure classification, gang decisions, elastic sizing and status.
import { describe, expect, it } from "vitest";
import { EXIT } from "@gantry/crds";
import { failureDelayMs, gangRetryDelayMs } from "../src/core/backoff.js";
import type { Observed, ObservedNode, ObservedPod } from "../src/core/observed.js";
import { plan, type Action, type Plan, type StoredJob } from "../src/core/plan.js";

const T0 = new Date("2026-12-01T10:00:00Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

function storedJob(spec: Record<string, unknown> = {}, status?: unknown, uid = "uid-1"): StoredJob {
  return {
    apiVersion: "gantry.dev/v1alpha1",
    kind: "LLMTrainingJob",
    metadata: { name: "job", namespace: "ns", uid, generation: 1 },
    spec: {
      data: { source: "file:///data" },
      training: { steps: 100, globalBatchSize: 32, microBatchSize: 8 },
      workers: 4,
      resources: { gpusPerWorker: 1 },
      ...spec,
    },
    ...(status === undefined ? {} : { status }),
  };
}

const NODES: ReadonlyMap<string, ObservedNode> = new Map(
  ["n0", "n1", "n2", "n3"].map((name) => [name, { name, ready: true, reclaiming: false }]),
);

function observed(pods: ObservedPod[], extra: Partial<Observed> = {}): Observed {
  return { pods, nodes: NODES, serviceExists: true, pdbExists: pods.length > 0, ...extra };
}

/** Overrides for a test pod; `nodeName: undefined` makes it unscheduled. */
type PodOver = { [K in keyof ObservedPod]?: ObservedPod[K] | undefined };

function pod(attempt: number, worker: number, over: PodOver = {}): ObservedPod {
  const merged: PodOver = { name: `job-${attempt}-${worker}`, attempt, worker, phase: "Running", nodeName: `n${worker}`, ready: true, ...over };
  return Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)) as unknown as ObservedPod;
}

const gang = (attempt: number, n: number, over: (w: number) => PodOver = () => ({})) =>
  Array.from({ length: n }, (_, w) => pod(attempt, w, over(w)));

const ofType = <T extends Action["type"]>(p: Plan, type: T) => p.actions.filter((a): a is Extract<Action, { type: T }> => a.type === type);
const condition = (p: Plan, type: string) => p.status.conditions?.find((c) => c.type === type);

/** The status after a first plan created the gang, as the reconciler would have written it. */
function started(spec: Record<string, unknown> = {}, uid = "uid-1") {
  const first = plan(storedJob(spec, undefined, uid), observed([], { serviceExists: false }), T0);
  return first.status;
}

describe("a new job", () => {
  it("creates the Service and every worker in one plan", () => {
    const p = plan(storedJob(), observed([], { serviceExists: false }), T0);
    expect(ofType(p, "createService")).toHaveLength(1);
    expect(ofType(p, "createPod")).toEqual([0, 1, 2, 3].map((worker) => ({ type: "createPod", attempt: 0, worker, workers: 4 })));
    expect(p.status).toMatchObject({ phase: "Scheduling", attempt: 0, attemptStartTime: T0.toISOString(), startTime: T0.toISOString(), workersReady: "0/4" });
    expect(p.status.restarts).toEqual({ preemption: 0, failure: 0 });
    expect(ofType(p, "event")).toEqual([expect.objectContaining({ reason: "GangCreated" })]);
    expect(p.requeueAfterMs).toBe(1800 * 1000);
  });

  it("creates nothing more once its pods exist, and asks for the PDB", () => {
    const status = started();
    const p = plan(storedJob({}, status), observed(gang(0, 4, () => ({ nodeName: undefined, phase: "Pending", ready: false })), { pdbExists: false }), at(1));
    expect(ofType(p, "createPod")).toEqual([]);
    expect(ofType(p, "createPdb")).toEqual([{ type: "createPdb", minAvailable: 4 }]);
  });

  it("reports WaitingForCapacity with the scheduler's message while pods are unschedulable", () => {
    const status = started();
    const pods = gang(0, 4, (w) => (w < 2 ? {} : { nodeName: undefined, phase: "Pending", ready: false, unschedulable: "0/4 nodes are available: 4 Insufficient nvidia.com/gpu." }));
    const p = plan(storedJob({}, status), observed(pods), at(10));
    expect(p.status.phase).toBe("Scheduling");
    expect(condition(p, "GangScheduled")).toMatchObject({ status: "False", reason: "WaitingForCapacity" });
    expect(condition(p, "GangScheduled")?.message).toContain("2/4 workers scheduled; 0/4 nodes are available");
    expect(p.requeueAfterMs).toBe((1800 - 10) * 1000);
  });

  it("is Running once every worker is ready, with one event, and a second plan changes nothing", () => {
    const status = started();
    const first = plan(storedJob({}, status), observed(gang(0, 4)), at(5));
    expect(first.status.phase).toBe("Running");
    expect(first.status.workers).toEqual({ desired: 4, scheduled: 4, ready: 4, succeeded: 0, failed: 0 });
    expect(first.status.workersReady).toBe("4/4");
    expect(condition(first, "Running")).toMatchObject({ status: "True", reason: "AllWorkersReady" });
    expect(ofType(first, "event").map((e) => e.reason)).toEqual(["Running"]);
    const again = plan(storedJob({}, first.status), observed(gang(0, 4)), at(60));
    expect(again.actions).toEqual([]);
    expect(again.status).toEqual(first.status);
  });
});

describe("preemption and node loss restart the gang without using the failure budget", () => {
  const running = () => plan(storedJob({}, started()), observed(gang(0, 4)), at(5)).status;
  const cases: Array<[string, () => Observed, string]> = [
    ["a DisruptionTarget condition", () => observed(gang(0, 4, (w) => (w === 2 ? { disruption: { reason: "PreemptionByScheduler", message: "preempted by job/high" } } : {}))), "PreemptionByScheduler"],
    ["a deleted worker", () => observed(gang(0, 4).filter((p) => p.worker !== 1)), "PodDeleted"],
    ["a worker being deleted", () => observed(gang(0, 4, (w) => (w === 3 ? { deletingSince: at(20) } : {}))), "PodDeleted"],
    ["a vanished node", () => observed(gang(0, 4), { nodes: new Map([...NODES].filter(([n]) => n !== "n0")) }), "NodeLost"],
    ["a spot reclaim taint", () => observed(gang(0, 4), { nodes: new Map([...NODES, ["n1", { name: "n1", ready: true, reclaiming: true }]]) }), "NodeReclaimed"],
    ["a node NotReady past the grace period", () => observed(gang(0, 4), { nodes: new Map([...NODES, ["n2", { name: "n2", ready: false, notReadySince: at(0), reclaiming: false }]]) }), "NodeNotReady"],
  ];
  for (const [what, world, reason] of cases) {
    it(`after ${what}`, () => {
      const p = plan(storedJob({}, running()), world(), at(100));
      expect(p.status.attempt).toBe(1);
      expect(p.status.restarts).toEqual({ preemption: 1, failure: 0 });
      expect(p.status.phase).toBe("Restarting");
      expect(p.status.attemptStartTime).toBeUndefined();
      expect(p.status.nextAttemptTime).toBeUndefined();
      expect(condition(p, "Restarting")).toMatchObject({ status: "True", reason });
      const deleted = ofType(p, "deletePod").map((a) => a.name);
      expect(deleted.length).toBeGreaterThanOrEqual(3);
      expect(ofType(p, "event").some((e) => e.kind === "Warning" && e.reason === reason)).toBe(true);
    });
  }

  it("not for a node NotReady within the grace period", () => {
    const world = observed(gang(0, 4), { nodes: new Map([...NODES, ["n2", { name: "n2", ready: false, notReadySince: at(90), reclaiming: false }]]) });
    const p = plan(storedJob({}, running()), world, at(100));
    expect(p.status.attempt).toBe(0);
    expect(p.status.phase).toBe("Running");
  });

  it("fails the job once preemptions exceed maxPreemptions", () => {
    const status = { ...running(), restarts: { preemption: 2, failure: 0 } };
    const p = plan(storedJob({ runPolicy: { maxPreemptions: 2 } }, status), observed(gang(0, 4).slice(1)), at(100));
    expect(p.status.phase).toBe("Failed");
    expect(condition(p, "Failed")).toMatchObject({ status: "True", reason: "PreemptionBudgetExceeded" });
  });

  it("then waits for the old gang to go before creating attempt 1, with new names", () => {
    const restarting = plan(storedJob({}, running()), observed(gang(0, 4).slice(1)), at(100)).status;
    const terminating = plan(storedJob({}, restarting), observed(gang(0, 4, () => ({ deletingSince: at(100) })).slice(1)), at(101));
    expect(ofType(terminating, "createPod")).toEqual([]);
    expect(terminating.requeueAfterMs).toBe(1000);
    const clear = plan(storedJob({}, terminating.status), observed([], { pdbExists: true }), at(105));
    expect(ofType(clear, "createPod").map((a) => `${a.attempt}-${a.worker}`)).toEqual(["1-0", "1-1", "1-2", "1-3"]);
    expect(clear.status.phase).toBe("Scheduling");
  });
});

describe("worker failures follow the exit-code contract", () => {
  const running = () => plan(storedJob({}, started()), observed(gang(0, 4)), at(5)).status;
  const failing = (code: number, reason?: string, message?: string) =>
    observed(gang(0, 4, (w) => (w === 1 ? { phase: "Failed", ready: false, exit: { code, ...(reason ? { reason } : {}), ...(message ? { message } : {}) } } : {})));

  it("a retryable exit restarts with exponential backoff and counts as a failure", () => {
    const p = plan(storedJob({}, running()), failing(1, "Error"), at(100));
    expect(p.status.restarts).toEqual({ preemption: 0, failure: 1 });
    expect(p.status.attempt).toBe(1);
    const delay = failureDelayMs(1, "uid-1");
    expect(delay).toBeGreaterThanOrEqual(10_000);
    expect(delay).toBeLessThan(11_000);
    expect(p.status.nextAttemptTime).toBe(new Date(at(100).getTime() + delay).toISOString());
    expect(p.requeueAfterMs).toBe(delay);
    // Before the backoff ends nothing is created.
    const early = plan(storedJob({}, p.status), observed([]), at(105));
    expect(ofType(early, "createPod")).toEqual([]);
    const late = plan(storedJob({}, p.status), observed([]), at(112));
    expect(ofType(late, "createPod")).toHaveLength(4);
    expect(late.status.nextAttemptTime).toBeUndefined();
  });

  it("the delay doubles with each failure up to the cap", () => {
    expect(failureDelayMs(2, "u")).toBeGreaterThanOrEqual(20_000);
    expect(failureDelayMs(3, "u")).toBeGreaterThanOrEqual(40_000);
    expect(failureDelayMs(20, "u")).toBeLessThanOrEqual(330_000);
  });

  it("OOMKilled is reported as such", () => {
    const p = plan(storedJob({}, running()), failing(137, "OOMKilled"), at(100));
    expect(condition(p, "Restarting")?.reason).toBe("OOMKilled");
  });

  it("a permanent exit fails the job at once with the message", () => {
    const p = plan(storedJob({}, running()), failing(3, "Error", "shard-00017.idx: truncated index"), at(100));
    expect(p.status.phase).toBe("Failed");
    expect(condition(p, "Failed")).toMatchObject({ reason: "InvalidData", message: "job-0-1 exited 3: shard-00017.idx: truncated index" });
    expect(p.status.restarts).toEqual({ preemption: 0, failure: 0 });
    expect(ofType(p, "deletePod")).toHaveLength(4);
  });

  it("a trainer that checkpointed on SIGTERM (the preempted code) restarts at once as a preemption", () => {
    const p = plan(storedJob({}, running()), failing(EXIT.preempted, "Error"), at(100));
    expect(p.status.restarts).toEqual({ preemption: 1, failure: 0 });
    expect(condition(p, "Restarting")?.reason).toBe("WorkerPreempted");
    expect(p.status.nextAttemptTime).toBeUndefined();
  });

  it("exceeding backoffLimit fails the job", () => {
    const status = { ...running(), restarts: { preemption: 5, failure: 3 } };
    const p = plan(storedJob({}, status), failing(1), at(100));
    expect(p.status.phase).toBe("Failed");
    expect(condition(p, "Failed")?.reason).toBe("BackoffLimitExceeded");
  });

  it("a preempted pod that also shows a failed exit counts as a preemption", () => {
    const world = observed(gang(0, 4, (w) => (w === 0 ? { phase: "Failed", ready: false, exit: { code: 143 }, disruption: { reason: "EvictionByEvictionAPI", message: "evicted" } } : {})));
    const p = plan(storedJob({}, running()), world, at(100));
    expect(p.status.restarts).toEqual({ preemption: 1, failure: 0 });
  });
});

describe("success, TTL and deadline", () => {
  const running = () => plan(storedJob({ runPolicy: { ttlSecondsAfterFinished: 600 } }, started()), observed(gang(0, 4)), at(5)).status;

  it("worker 0 exiting 0 succeeds the job and cleans up", () => {
    const world = observed(gang(0, 4, (w) => (w === 0 ? { phase: "Succeeded", ready: false, exit: { code: 0 } } : {})));
    const p = plan(storedJob({ runPolicy: { ttlSecondsAfterFinished: 600 } }, running()), world, at(1000));
    expect(p.status.phase).toBe("Succeeded");
    expect(p.status.completionTime).toBe(at(1000).toISOString());
    expect(ofType(p, "deletePod").map((a) => a.name).sort()).toEqual(["job-0-0", "job-0-1", "job-0-2", "job-0-3"]);
    expect(ofType(p, "deletePdb")).toHaveLength(1);
    const before = plan(storedJob({ runPolicy: { ttlSecondsAfterFinished: 600 } }, p.status), observed([], { pdbExists: false }), at(1300));
    expect(before.actions).toEqual([]);
    expect(before.requeueAfterMs).toBe(300_000);
    const after = plan(storedJob({ runPolicy: { ttlSecondsAfterFinished: 600 } }, p.status), observed([], { pdbExists: false }), at(1600));
    expect(after.actions).toEqual([{ type: "deleteJob" }]);
  });

  it("activeDeadlineSeconds fails the job with DeadlineExceeded", () => {
    const status = plan(storedJob({ runPolicy: { activeDeadlineSeconds: 60 } }, started()), observed(gang(0, 4)), at(5)).status;
    const p = plan(storedJob({ runPolicy: { activeDeadlineSeconds: 60 } }, status), observed(gang(0, 4)), at(61));
    expect(p.status.phase).toBe("Failed");
    expect(condition(p, "Failed")?.reason).toBe("DeadlineExceeded");
  });
});

describe("suspend and resume", () => {
  it("suspending deletes the pods and resuming starts the next attempt", () => {
    const running = plan(storedJob({}, started()), observed(gang(0, 4)), at(5)).status;
    const suspended = plan(storedJob({ suspend: true }, running), observed(gang(0, 4)), at(50));
    expect(suspended.status.phase).toBe("Suspended");
    expect(ofType(suspended, "deletePod")).toHaveLength(4);
    expect(suspended.status.restarts).toEqual({ preemption: 0, failure: 0 });
    expect(suspended.status.attempt).toBe(1);
    const stillSuspended = plan(storedJob({ suspend: true }, suspended.status), observed([]), at(60));
    expect(stillSuspended.actions).toEqual([]);
    const resumed = plan(storedJob({ suspend: false }, stillSuspended.status), observed([], { pdbExists: false }), at(70));
    expect(ofType(resumed, "createPod").map((a) => a.attempt)).toEqual([1, 1, 1, 1]);
    expect(condition(resumed, "Suspended")).toMatchObject({ status: "False", reason: "Resumed" });
  });
});

describe("gang timeout", () => {
  const pending = (w: number): PodOver => (w >= 2 ? { nodeName: undefined, phase: "Pending", ready: false, unschedulable: "Insufficient nvidia.com/gpu" } : {});

  it("releases a partly scheduled gang and retries after a jittered delay", () => {
    const p = plan(storedJob({}, started()), observed(gang(0, 4, pending)), at(1800));
    expect(ofType(p, "deletePod")).toHaveLength(4);
    expect(p.status.attempt).toBe(1);
    expect(p.status.restarts).toEqual({ preemption: 0, failure: 0 });
    expect(condition(p, "GangScheduled")?.reason).toBe("GangTimeout");
    expect(p.requeueAfterMs).toBe(gangRetryDelayMs(0, "uid-1"));
    expect(p.requeueAfterMs).toBeGreaterThanOrEqual(30_000);
    // Two jobs released together come back at different times.
    expect(gangRetryDelayMs(0, "uid-1")).not.toBe(gangRetryDelayMs(0, "uid-2"));
  });

  it("an elastic job runs with the workers that fit, then tries its full size after the next restart", () => {
    const spec = { workers: 4, elastic: { minWorkers: 2, maxWorkers: 4 } };
    const shrink = plan(storedJob(spec, started(spec)), observed(gang(0, 4, pending)), at(1800));
    expect(shrink.status.attempt).toBe(1);
    expect(shrink.status.workers?.desired).toBe(2);
    expect(ofType(shrink, "event").map((e) => e.reason)).toContain("ScaledDown");
    const small = plan(storedJob(spec, shrink.status), observed([]), at(1801));
    expect(ofType(small, "createPod").map((a) => `${a.worker}/${a.workers}`)).toEqual(["0/2", "1/2"]);
    const runningSmall = plan(storedJob(spec, small.status), observed(gang(1, 2)), at(1802));
    expect(runningSmall.status.phase).toBe("Running");
    expect(runningSmall.status.workersReady).toBe("2/2");
    const preempted = plan(storedJob(spec, runningSmall.status), observed(gang(1, 2).slice(1)), at(1900));
    expect(preempted.status.workers?.desired).toBe(4);
    const grow = plan(storedJob(spec, preempted.status), observed([]), at(1901));
    expect(ofType(grow, "createPod")).toHaveLength(4);
  });

  it("an elastic job below its minimum is released like any other", () => {
    const spec = { workers: 4, elastic: { minWorkers: 3, maxWorkers: 4 } };
    const p = plan(storedJob(spec, started(spec)), observed(gang(0, 4, pending)), at(1800));
    expect(condition(p, "GangScheduled")?.reason).toBe("GangTimeout");
    expect(p.status.workers?.desired).toBe(4);
  });
});

describe("status.parallelism: the attempt's data × tensor × pipeline layout", () => {
  it("a data-parallel job shows DP = workers", () => {
    const p = plan(storedJob(), observed([], { serviceExists: false }), T0);
    expect(p.status.parallelism).toEqual({ dataParallel: 4, tensorParallel: 1, pipelineParallel: 1, layout: "4x1x1" });
  });

  it("2 workers × 4 GPUs with TP 2 and PP 2 are 2x2x2, through the restart of a preempted gang", () => {
    const spec = { workers: 2, resources: { gpusPerWorker: 4 }, parallelism: { tensorParallel: 2, pipelineParallel: 2 } };
    const first = plan(storedJob(spec), observed([], { serviceExists: false }), T0);
    expect(first.status.parallelism).toEqual({ dataParallel: 2, tensorParallel: 2, pipelineParallel: 2, layout: "2x2x2" });
    const running = plan(storedJob(spec, first.status), observed(gang(0, 2)), at(5));
    expect(running.status.phase).toBe("Running");
    expect(running.status.parallelism?.layout).toBe("2x2x2");
    const preempted = plan(storedJob(spec, running.status), observed(gang(0, 2).slice(1)), at(10));
    expect(preempted.status.phase).toBe("Restarting");
    expect(preempted.status.parallelism?.layout).toBe("2x2x2");
  });

  it("an elastic job that shrinks picks the most workers that keep TP dividing the ranks, and shows their layout", () => {
    // TP 2 on 1-GPU workers: 3 scheduled workers cannot hold whole TP pairs, so the next attempt runs 2.
    const spec = { workers: 4, elastic: { minWorkers: 1, maxWorkers: 4 }, parallelism: { tensorParallel: 2 } };
    const status = started(spec);
    expect(status.parallelism?.layout).toBe("2x2x1");
    const pending = (w: number): PodOver => (w >= 3 ? { nodeName: undefined, phase: "Pending", ready: false } : {});
    const shrink = plan(storedJob(spec, status), observed(gang(0, 4, pending)), at(1800));
    expect(shrink.status.workers?.desired).toBe(2);
    expect(shrink.status.parallelism).toEqual({ dataParallel: 1, tensorParallel: 2, pipelineParallel: 1, layout: "1x2x1" });
    expect(ofType(shrink, "event").find((e) => e.reason === "ScaledDown")?.message).toContain("only 3/4 workers could be scheduled in 1800s; restarting with 2 (the most");
    const small = plan(storedJob(spec, shrink.status), observed([]), at(1801));
    expect(ofType(small, "createPod").map((a) => `${a.worker}/${a.workers}`)).toEqual(["0/2", "1/2"]);
  });

  it("an elastic job whose scheduled workers allow no valid layout above its minimum is released", () => {
    const spec = { workers: 4, elastic: { minWorkers: 3, maxWorkers: 4 }, parallelism: { tensorParallel: 4 } };
    const pending = (w: number): PodOver => (w >= 3 ? { nodeName: undefined, phase: "Pending", ready: false } : {});
    const p = plan(storedJob(spec, started(spec)), observed(gang(0, 4, pending)), at(1800));
    expect(condition(p, "GangScheduled")?.reason).toBe("GangTimeout");
    expect(ofType(p, "event").map((e) => e.reason)).not.toContain("ScaledDown");
    expect(p.status.workers?.desired).toBe(4);
  });

  it("a stored shrunk size that breaks the layout is not reused: the attempt runs the spec's size", () => {
    const spec = { workers: 4, elastic: { minWorkers: 1, maxWorkers: 4 }, parallelism: { tensorParallel: 2 } };
    const status = { attempt: 1, restarts: { preemption: 0, failure: 0 }, phase: "Restarting", workers: { desired: 3, scheduled: 0, ready: 0, succeeded: 0, failed: 0 } };
    const p = plan(storedJob(spec, status), observed([]), T0);
    expect(ofType(p, "createPod").map((a) => a.workers)).toEqual([4, 4, 4, 4]);
    expect(p.status.parallelism?.layout).toBe("2x2x1");
  });

  it("is absent while suspended or invalid", () => {
    const running = plan(storedJob({}, started()), observed(gang(0, 4)), at(5)).status;
    expect(running.parallelism?.layout).toBe("4x1x1");
    expect(plan(storedJob({ suspend: true }, running), observed(gang(0, 4)), at(10)).status.parallelism).toBeUndefined();
    expect(plan(storedJob({ workers: 3 }, running), observed(gang(0, 4)), at(10)).status.parallelism).toBeUndefined();
  });

  it("a finished job keeps the layout it ran with", () => {
    const done = plan(storedJob({}, started()), observed(gang(0, 4, (w) => (w === 0 ? { phase: "Succeeded", ready: false } : {}))), at(10));
    expect(done.status.phase).toBe("Succeeded");
    expect(plan(storedJob({}, done.status), observed([]), at(20)).status.parallelism?.layout).toBe("4x1x1");
  });
});

describe("bad specs and leftovers", () => {
  it("an invalid spec gives an Invalid condition naming the field, one event, and no pods", () => {
    const bad = storedJob({ workers: 3 });
    const p = plan(bad, observed([], { serviceExists: false }), T0);
    expect(ofType(p, "createPod")).toEqual([]);
    expect(condition(p, "Invalid")).toMatchObject({ status: "True", reason: "InvalidSpec" });
    expect(condition(p, "Invalid")?.message).toContain("spec.training.globalBatchSize: training.globalBatchSize must be a multiple");
    expect(ofType(p, "event")).toHaveLength(1);
    const again = plan(storedJob({ workers: 3 }, p.status), observed([]), at(10));
    expect(ofType(again, "event")).toEqual([]);
  });

  it("a spec changed to something invalid stops its pods; fixing it clears the condition", () => {
    const running = plan(storedJob({}, started()), observed(gang(0, 4)), at(5)).status;
    const broken = plan(storedJob({ training: { steps: 0 } }, running), observed(gang(0, 4)), at(10));
    expect(ofType(broken, "deletePod")).toHaveLength(4);
    expect(condition(broken, "Invalid")?.message).toContain("spec.training.steps");
    const fixed = plan(storedJob({}, broken.status), observed([]), at(20));
    expect(condition(fixed, "Invalid")).toMatchObject({ status: "False", reason: "ValidSpec" });
  });

  it("pods of older attempts are deleted, and stuck ones on lost nodes are force-deleted", () => {
    const running = plan(storedJob({}, started()), observed(gang(0, 4)), at(5)).status;
    const old = pod(7, 0, { name: "job-7-0", nodeName: "gone", deletingSince: at(0) });
    const fresh = plan(storedJob({}, { ...running }), observed([...gang(0, 4), old]), at(30));
    expect(ofType(fresh, "deletePod")).toEqual([]);
    const later = plan(storedJob({}, { ...running }), observed([...gang(0, 4), old]), at(95));
    expect(ofType(later, "deletePod")).toEqual([{ type: "deletePod", name: "job-7-0", force: true }]);
  });

  it("a terminal job ignores later spec changes and only cleans up", () => {
    const done = plan(storedJob({}, started()), observed(gang(0, 4, (w) => (w === 0 ? { phase: "Succeeded", ready: false } : {}))), at(10));
    const p = plan(storedJob({ workers: 3 }, done.status), observed([]), at(20));
    expect(p.status.phase).toBe("Succeeded");
    expect(p.actions).toEqual([]);
  });
});
