// What the agent does next for one pod: a pure function of the pod as the API has it and of what runs locally.
// Level-based, so it can run again on any event (or none) and ask for the same thing.
import type { V1Pod } from "@kubernetes/client-node";

export interface ApiPodView {
  phase: string;
  /** deletionTimestamp is set: the pod is to be stopped and its deletion finished. */
  deleting: boolean;
  /** deletionGracePeriodSeconds, else the spec's terminationGracePeriodSeconds, else 30. */
  graceSeconds: number;
  /** The pod ran before this agent saw it: its status says so, or a previous agent left traces on disk. */
  ranBefore: boolean;
}

const TERMINAL = new Set(["Succeeded", "Failed"]);

export function viewPod(pod: V1Pod, tracesOnDisk: boolean): ApiPodView {
  const status = pod.status ?? {};
  const phase = status.phase ?? "Pending";
  const started = (status.containerStatuses ?? []).some((c) => c.started === true || c.state?.running !== undefined || c.state?.terminated !== undefined);
  return {
    phase,
    deleting: pod.metadata?.deletionTimestamp !== undefined,
    graceSeconds: pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30,
    ranBefore: tracesOnDisk || phase !== "Pending" || started || status.podIP !== undefined,
  };
}

export interface LocalPodView {
  /** Containers whose processes have not exited. */
  alive: number;
  /** SIGTERM was sent at deletion; SIGKILL is due at deadlineMs. */
  terminating?: { deadlineMs: number; killSent: boolean };
}

export type Step =
  | { kind: "start" }
  /** A pod that ran under a previous agent: its processes are lost; mark it Failed. */
  | { kind: "mark-lost" }
  /** Write the status the local state implies (a no-op when it equals the last one written). */
  | { kind: "report" }
  | { kind: "terminate"; graceSeconds: number }
  | { kind: "kill"; why: "grace-period-over" | "force-deleted" }
  /** Finish the deletion, as the kubelet does: delete with grace period 0. */
  | { kind: "finalize" }
  /** Drop the local record. */
  | { kind: "forget" };

export function isTerminal(phase: string): boolean {
  return TERMINAL.has(phase);
}

export function decide(api: ApiPodView | undefined, local: LocalPodView | undefined, nowMs: number): Step[] {
  if (!api) {
    // Gone from the API (a forced deletion, or a deletion finished elsewhere): nothing may keep running.
    if (!local) return [];
    return local.alive > 0 ? [{ kind: "kill", why: "force-deleted" }, { kind: "forget" }] : [{ kind: "forget" }];
  }
  if (api.deleting) {
    if (!local || local.alive === 0) return local ? [{ kind: "report" }, { kind: "finalize" }, { kind: "forget" }] : [{ kind: "finalize" }];
    if (!local.terminating) return [{ kind: "terminate", graceSeconds: api.graceSeconds }];
    if (!local.terminating.killSent && nowMs >= local.terminating.deadlineMs) return [{ kind: "kill", why: "grace-period-over" }];
    return [];
  }
  if (!local) {
    if (isTerminal(api.phase)) return [];
    return api.ranBefore ? [{ kind: "mark-lost" }] : [{ kind: "start" }];
  }
  if (local.alive === 0 && isTerminal(api.phase)) return [{ kind: "forget" }];
  return [{ kind: "report" }];
}
