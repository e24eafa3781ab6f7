// The pure parts of the operator's shell: configuration, what is observed of pods and nodes, who may hold the lease.
import { describe, expect, it } from "vitest";
import { ConfigError, configFromEnv } from "../src/config.js";
import { mayHold } from "../src/controller/leader.js";
import { observeNode, observePod } from "../src/controller/observe.js";

describe("configFromEnv", () => {
  it("has defaults and reads the environment", () => {
    const c = configFromEnv({ GANTRY_WATCH_NAMESPACES: "a, b", GANTRY_CONCURRENCY: "8", GANTRY_TRAINER_COMMAND: '["node","trainer.js"]', GANTRY_LEADER_ELECTION: "false" });
    expect(c.watchNamespaces).toEqual(["a", "b"]);
    expect(c.concurrency).toBe(8);
    expect(c.trainerCommand).toEqual(["node", "trainer.js"]);
    expect(c.leaderElection).toBe(false);
    expect(c.trainerImage).toBe("ghcr.io/gantry-dev/trainer:0.1.0");
    expect(configFromEnv({}).watchNamespaces).toEqual([]);
  });

  it("names the variable that is wrong", () => {
    expect(() => configFromEnv({ GANTRY_CONCURRENCY: "lots" })).toThrow(ConfigError);
    expect(() => configFromEnv({ GANTRY_TRAINER_COMMAND: "node trainer.js" })).toThrow(/GANTRY_TRAINER_COMMAND: must be a JSON array of strings/);
    expect(() => configFromEnv({ GANTRY_REDIS_URL: "localhost:6379" })).toThrow(/GANTRY_REDIS_URL/);
  });
});

describe("observePod", () => {
  it("reads phase, node, readiness, disruption, scheduling trouble and exit", () => {
    const pod = observePod({
      metadata: { name: "j-2-1", labels: { "gantry.dev/attempt": "2", "gantry.dev/worker": "1" }, deletionTimestamp: new Date("2026-12-01T10:02:00Z"), deletionGracePeriodSeconds: 120 },
      spec: { nodeName: "n1", containers: [] },
      status: {
        phase: "Failed",
        conditions: [
          { type: "DisruptionTarget", status: "True", reason: "PreemptionByScheduler", message: "preempted" },
          { type: "PodScheduled", status: "True" },
        ],
        containerStatuses: [{ name: "trainer", image: "x", imageID: "", ready: false, restartCount: 0, state: { terminated: { exitCode: 137, reason: "OOMKilled" } } }],
      },
    });
    expect(pod).toEqual({
      name: "j-2-1",
      attempt: 2,
      worker: 1,
      phase: "Failed",
      ready: false,
      nodeName: "n1",
      deletingSince: new Date("2026-12-01T10:00:00Z"),
      disruption: { reason: "PreemptionByScheduler", message: "preempted" },
      exit: { code: 137, reason: "OOMKilled" },
    });
  });

  it("reports the scheduler's message for an unschedulable pod, and ignores pods without our labels", () => {
    const pod = observePod({
      metadata: { name: "j-0-0", labels: { "gantry.dev/attempt": "0", "gantry.dev/worker": "0" } },
      status: { phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/5 nodes are available" }] },
    });
    expect(pod?.unschedulable).toBe("0/5 nodes are available");
    expect(pod?.ready).toBe(false);
    expect(observePod({ metadata: { name: "other" } })).toBeUndefined();
  });

  it("treats a container its kubelet lost (ContainerStatusUnknown) as a disruption, not a failure", () => {
    const pod = observePod({
      metadata: { name: "j-0-1", labels: { "gantry.dev/attempt": "0", "gantry.dev/worker": "1" } },
      status: { phase: "Failed", reason: "NodeAgentRestarted", containerStatuses: [{ name: "trainer", image: "x", imageID: "", ready: false, restartCount: 0, state: { terminated: { exitCode: 137, reason: "ContainerStatusUnknown", message: "the agent restarted" } } }] },
    });
    expect(pod?.disruption).toEqual({ reason: "ContainerStatusUnknown", message: "the agent restarted" });
    expect(pod?.exit).toEqual({ code: 137, reason: "ContainerStatusUnknown", message: "the agent restarted" });
  });
});

describe("observeNode", () => {
  it("sees NotReady since when, and reclaim taints", () => {
    const since = new Date("2026-12-01T09:00:00Z");
    expect(observeNode({ metadata: { name: "n" }, status: { conditions: [{ type: "Ready", status: "Unknown", lastTransitionTime: since }] } })).toEqual({ name: "n", ready: false, reclaiming: false, notReadySince: since });
    expect(observeNode({ metadata: { name: "s" }, spec: { taints: [{ key: "gantry.dev/spot-reclaim", effect: "NoExecute" }] }, status: { conditions: [{ type: "Ready", status: "True" }] } })).toEqual({ name: "s", ready: true, reclaiming: true });
    expect(observeNode({ metadata: { name: "t" }, spec: { taints: [{ key: "gantry.dev/spot", effect: "NoSchedule" }] } })?.reclaiming).toBe(false);
  });
});

describe("mayHold", () => {
  const now = new Date("2026-12-01T10:00:00Z");
  const lease = (holder: string, renewedSecondsAgo: number) => ({ spec: { holderIdentity: holder, leaseDurationSeconds: 15, renewTime: new Date(now.getTime() - renewedSecondsAgo * 1000) } });
  it("lets the holder renew, others take only an expired lease", () => {
    expect(mayHold(undefined, "a", now)).toBe(true);
    expect(mayHold(lease("a", 5), "a", now)).toBe(true);
    expect(mayHold(lease("a", 5), "b", now)).toBe(false);
    expect(mayHold(lease("a", 16), "b", now)).toBe(true);
  });
});
