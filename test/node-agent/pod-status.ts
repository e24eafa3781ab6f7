// The status a kubelet would post for a pod, from what the agent knows of its containers. Pure.
import type { V1ContainerStatus, V1PodCondition, V1PodStatus } from "@kubernetes/client-node";

export type ContainerState =
  | { kind: "waiting"; reason: string; message?: string }
  | { kind: "running"; startedAt: Date }
  | { kind: "terminated"; exitCode: number; signal?: number; reason: string; message?: string; startedAt?: Date; finishedAt: Date };

export interface ContainerView {
  name: string;
  image: string;
  state: ContainerState;
}

export type PodPhase = "Pending" | "Running" | "Succeeded" | "Failed";

export interface PodFacts {
  containers: readonly ContainerView[];
  podIP?: string;
  hostIP: string;
  startTime?: Date;
  /** A pod-level failure before any container ran (config error, unmapped image, lost on restart). */
  failure?: { reason: string; message: string };
  /** The conditions now in the API, so unchanged ones keep their transition times. */
  previous?: readonly V1PodCondition[];
  now: Date;
}

/** restartPolicy Never: all containers running → Running; all ended 0 → Succeeded; all ended, one not 0 → Failed. */
export function podPhase(facts: Pick<PodFacts, "containers" | "failure">): PodPhase {
  if (facts.failure) return "Failed";
  const states = facts.containers.map((c) => c.state);
  if (states.length === 0 || states.some((s) => s.kind === "waiting")) return "Pending";
  if (states.some((s) => s.kind === "running")) return "Running";
  return states.every((s) => s.kind === "terminated" && s.exitCode === 0) ? "Succeeded" : "Failed";
}

/** The kubelet's reason for an ended container; OOMKilled never happens here (memory is not limited). */
export function terminationReason(exitCode: number): "Completed" | "Error" {
  return exitCode === 0 ? "Completed" : "Error";
}

const MAX_MESSAGE_BYTES = 4096;
const FALLBACK_LOG_BYTES = 2048;
const FALLBACK_LOG_LINES = 80;

/**
 * The termination message: the file the container wrote (at most 4096 bytes), else, with the policy
 * FallbackToLogsOnError and a failed container, the end of its log (80 lines, 2048 bytes), as the kubelet does.
 */
export function terminationMessage(file: string | undefined, policy: string | undefined, exitCode: number, logTail: () => string): string | undefined {
  const written = file?.trim() ? Buffer.from(file).subarray(0, MAX_MESSAGE_BYTES).toString("utf8") : undefined;
  if (written !== undefined) return written;
  if (policy !== "FallbackToLogsOnError" || exitCode === 0) return undefined;
  const tail = logTail().trimEnd().split("\n").slice(-FALLBACK_LOG_LINES).join("\n");
  const bytes = Buffer.from(tail);
  const text = bytes.subarray(Math.max(0, bytes.length - FALLBACK_LOG_BYTES)).toString("utf8").trim();
  return text || undefined;
}

function containerStatus(c: ContainerView): V1ContainerStatus {
  const base = { name: c.name, image: c.image, imageID: "", restartCount: 0 };
  const s = c.state;
  if (s.kind === "waiting") return { ...base, ready: false, started: false, state: { waiting: { reason: s.reason, ...(s.message ? { message: s.message } : {}) } } };
  if (s.kind === "running") return { ...base, ready: true, started: true, state: { running: { startedAt: s.startedAt } } };
  return {
    ...base,
    ready: false,
    started: false,
    state: {
      terminated: {
        exitCode: s.exitCode,
        reason: s.reason,
        finishedAt: s.finishedAt,
        ...(s.signal !== undefined ? { signal: s.signal } : {}),
        ...(s.message ? { message: s.message } : {}),
        ...(s.startedAt ? { startedAt: s.startedAt } : {}),
      },
    },
  };
}

function condition(type: string, status: "True" | "False", facts: PodFacts, reason?: string): V1PodCondition {
  const before = facts.previous?.find((c) => c.type === type);
  const since = before?.status === status && before.lastTransitionTime ? before.lastTransitionTime : facts.now;
  return { type, status, lastTransitionTime: since, ...(reason ? { reason } : {}) };
}

export function podStatus(facts: PodFacts): V1PodStatus {
  const phase = podPhase(facts);
  const running = phase === "Running" && facts.containers.every((c) => c.state.kind === "running");
  const notReady = phase === "Succeeded" ? "PodCompleted" : phase === "Failed" ? "PodFailed" : "ContainersNotReady";
  const status: V1PodStatus = {
    phase,
    hostIP: facts.hostIP,
    hostIPs: [{ ip: facts.hostIP }],
    conditions: [
      condition("PodReadyToStartContainers", facts.podIP ? "True" : "False", facts),
      condition("Initialized", "True", facts),
      condition("Ready", running ? "True" : "False", facts, running ? undefined : notReady),
      condition("ContainersReady", running ? "True" : "False", facts, running ? undefined : notReady),
      condition("PodScheduled", "True", facts),
    ],
    containerStatuses: facts.containers.map(containerStatus),
  };
  if (facts.podIP) {
    status.podIP = facts.podIP;
    status.podIPs = [{ ip: facts.podIP }];
  }
  if (facts.startTime) status.startTime = facts.startTime;
  if (facts.failure) {
    status.reason = facts.failure.reason;
    status.message = facts.failure.message;
  }
  return status;
}
