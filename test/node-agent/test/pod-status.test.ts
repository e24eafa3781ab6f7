import { describe, expect, it } from "vitest";
import { podPhase, podStatus, terminationMessage, terminationReason, type ContainerView } from "../pod-status.js";

const t0 = new Date("2026-01-01T00:00:00Z");
const t1 = new Date("2026-01-01T00:01:00Z");
const running = (name: string): ContainerView => ({ name, image: "gantry/test-echo", state: { kind: "running", startedAt: t0 } });
const ended = (name: string, exitCode: number): ContainerView => ({ name, image: "gantry/test-echo", state: { kind: "terminated", exitCode, reason: terminationReason(exitCode), startedAt: t0, finishedAt: t1 } });

describe("podPhase (restartPolicy Never)", () => {
  it.each([
    ["all running", [running("a"), running("b")], "Running"],
    ["one still running", [ended("a", 3), running("b")], "Running"],
    ["all ended 0", [ended("a", 0), ended("b", 0)], "Succeeded"],
    ["one ended non-zero", [ended("a", 0), ended("b", 76)], "Failed"],
    ["waiting", [{ name: "a", image: "x", state: { kind: "waiting", reason: "ContainerCreating" } } as ContainerView], "Pending"],
  ])("%s", (_, containers, phase) => {
    expect(podPhase({ containers })).toBe(phase);
  });

  it("is Failed whenever the pod failed before its containers ran", () => {
    expect(podPhase({ containers: [], failure: { reason: "CreateContainerConfigError", message: "m" } })).toBe("Failed");
  });
});

describe("terminationMessage", () => {
  it("takes the file, cut at 4096 bytes", () => {
    expect(terminationMessage("preempted at step 40", "File", 76, () => "log")).toBe("preempted at step 40");
    expect(terminationMessage("x".repeat(5000), "File", 1, () => "")?.length).toBe(4096);
  });

  it("falls back to the log's end only with FallbackToLogsOnError and a failure", () => {
    const log = Array.from({ length: 200 }, (_, i) => `line ${i}`).join("\n");
    expect(terminationMessage(undefined, "File", 1, () => log)).toBeUndefined();
    expect(terminationMessage("", "FallbackToLogsOnError", 0, () => log)).toBeUndefined();
    const m = terminationMessage("", "FallbackToLogsOnError", 1, () => log) ?? "";
    expect(m.endsWith("line 199")).toBe(true);
    expect(m.split("\n").length).toBeLessThanOrEqual(80);
    expect(Buffer.byteLength(m)).toBeLessThanOrEqual(2048);
  });
});

describe("podStatus", () => {
  it("is Running and Ready with the pod IP while every container runs", () => {
    const s = podStatus({ containers: [running("trainer")], podIP: "127.0.1.3", hostIP: "127.0.0.1", startTime: t0, now: t1 });
    expect(s).toMatchObject({ phase: "Running", podIP: "127.0.1.3", podIPs: [{ ip: "127.0.1.3" }], hostIP: "127.0.0.1", startTime: t0 });
    expect(Object.fromEntries((s.conditions ?? []).map((c) => [c.type, c.status]))).toEqual({ PodReadyToStartContainers: "True", Initialized: "True", Ready: "True", ContainersReady: "True", PodScheduled: "True" });
    expect(s.containerStatuses?.[0]).toMatchObject({ name: "trainer", ready: true, started: true, restartCount: 0, state: { running: { startedAt: t0 } } });
  });

  it("reports each ended container's exit code, reason and message, and Ready False with PodFailed", () => {
    const bad: ContainerView = { name: "trainer", image: "i", state: { kind: "terminated", exitCode: 137, signal: 9, reason: "Error", message: "killed", startedAt: t0, finishedAt: t1 } };
    const s = podStatus({ containers: [bad], podIP: "127.0.1.3", hostIP: "127.0.0.1", now: t1 });
    expect(s.phase).toBe("Failed");
    expect(s.containerStatuses?.[0]?.state?.terminated).toEqual({ exitCode: 137, signal: 9, reason: "Error", message: "killed", startedAt: t0, finishedAt: t1 });
    expect(s.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "False", reason: "PodFailed" });
  });

  it("keeps a condition's transition time while its status is unchanged", () => {
    const previous = [
      { type: "Ready", status: "True", lastTransitionTime: t0 },
      { type: "PodScheduled", status: "True", lastTransitionTime: t0 },
    ];
    const s = podStatus({ containers: [ended("trainer", 0)], podIP: "127.0.1.3", hostIP: "127.0.0.1", previous, now: t1 });
    expect(s.conditions?.find((c) => c.type === "PodScheduled")?.lastTransitionTime).toBe(t0);
    expect(s.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "False", reason: "PodCompleted", lastTransitionTime: t1 });
  });

  it("carries a pod-level failure's reason and message", () => {
    const waiting: ContainerView = { name: "trainer", image: "i", state: { kind: "waiting", reason: "CreateContainerConfigError", message: 'secret "s" not found' } };
    const s = podStatus({ containers: [waiting], hostIP: "127.0.0.1", failure: { reason: "CreateContainerConfigError", message: 'container trainer: secret "s" not found' }, now: t1 });
    expect(s).toMatchObject({ phase: "Failed", reason: "CreateContainerConfigError", message: 'container trainer: secret "s" not found' });
    expect(s.podIP).toBeUndefined();
    expect(s.containerStatuses?.[0]?.state?.waiting).toEqual({ reason: "CreateContainerConfigError", message: 'secret "s" not found' });
  });
});
