// Reduces Kubernetes objects to what plan() reads. Pure, so the mapping is tested without a cluster.
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { LABELS } from "../core/names.js";
import type { ObservedNode, ObservedPod, PodPhase } from "../core/observed.js";

/** Taints that mean the node is about to go away. */
const RECLAIM_TAINTS = new Set([
  "gantry.dev/spot-reclaim",
  "node.kubernetes.io/out-of-service",
  "aws-node-termination-handler/spot-itn",
  "karpenter.sh/disrupted",
  "ToBeDeletedByClusterAutoscaler",
  "cloud.google.com/impending-node-termination",
]);

const toDate = (t: Date | string | undefined) => (t === undefined ? undefined : new Date(t));

/** A pod the operator created, or undefined for one without our labels. */
export function observePod(pod: V1Pod): ObservedPod | undefined {
  const labels = pod.metadata?.labels ?? {};
  const attempt = Number(labels[LABELS.attempt]);
  const worker = Number(labels[LABELS.worker]);
  const name = pod.metadata?.name;
  if (!name || !Number.isInteger(attempt) || !Number.isInteger(worker)) return undefined;
  const conditions = pod.status?.conditions ?? [];
  const phase = (pod.status?.phase ?? "Pending") as PodPhase;
  const out: ObservedPod = {
    name,
    attempt,
    worker,
    phase,
    ready: phase === "Running" && conditions.some((c) => c.type === "Ready" && c.status === "True"),
  };
  if (pod.spec?.nodeName) out.nodeName = pod.spec.nodeName;
  // deletionTimestamp is when the grace period ends; the deletion was asked for that grace period earlier.
  const deadline = toDate(pod.metadata?.deletionTimestamp);
  if (deadline) out.deletingSince = new Date(deadline.getTime() - (pod.metadata?.deletionGracePeriodSeconds ?? 0) * 1000);
  const disruption = conditions.find((c) => c.type === "DisruptionTarget" && c.status === "True");
  if (disruption) out.disruption = { reason: disruption.reason ?? "Disrupted", message: disruption.message ?? "" };
  const scheduled = conditions.find((c) => c.type === "PodScheduled");
  if (scheduled?.status === "False" && scheduled.reason === "Unschedulable") out.unschedulable = scheduled.message ?? "unschedulable";
  const terminated = (pod.status?.containerStatuses ?? []).map((s) => s.state?.terminated).find((t) => t !== undefined);
  if (terminated) {
    out.exit = { code: terminated.exitCode };
    if (terminated.reason) out.exit.reason = terminated.reason;
    if (terminated.message) out.exit.message = terminated.message;
    // The kubelet lost the container (its node restarted): the worker did not fail, its machine did.
    if (terminated.reason === "ContainerStatusUnknown" && out.disruption === undefined) {
      out.disruption = { reason: "ContainerStatusUnknown", message: terminated.message ?? pod.status?.message ?? "the node lost the container" };
    }
  }
  return out;
}

export function observeNode(node: V1Node): ObservedNode | undefined {
  const name = node.metadata?.name;
  if (!name) return undefined;
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  const out: ObservedNode = {
    name,
    ready: ready?.status === "True",
    reclaiming: (node.spec?.taints ?? []).some((t) => RECLAIM_TAINTS.has(t.key) && t.effect !== "PreferNoSchedule"),
  };
  if (ready && ready.status !== "True") {
    const since = toDate(ready.lastTransitionTime);
    if (since) out.notReadySince = since;
  }
  return out;
}
