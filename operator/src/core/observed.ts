// What the operator sees of a job's children, reduced to what decisions need. The shell fills these in from
// informer caches; plan() reads nothing else.
import type { Progress } from "@gantry/crds";

export type PodPhase = "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown";

export interface ObservedPod {
  name: string;
  attempt: number;
  worker: number;
  phase: PodPhase;
  /** Bound to this node. */
  nodeName?: string;
  /** Running and Ready. */
  ready: boolean;
  /** Being deleted: when the deletion was requested (deletionTimestamp less the grace period). */
  deletingSince?: Date;
  /** A DisruptionTarget condition with status True: preemption, eviction or taint-manager deletion. */
  disruption?: { reason: string; message: string };
  /** PodScheduled is False with reason Unschedulable: the scheduler's message. */
  unschedulable?: string;
  /** The first terminated container's exit. */
  exit?: { code: number; reason?: string; message?: string };
}

export interface ObservedNode {
  name: string;
  ready: boolean;
  /** Since when Ready has not been True, if it is not. */
  notReadySince?: Date;
  /** Tainted as being reclaimed (spot interruption) or shutting down. */
  reclaiming: boolean;
}

export interface Observed {
  /** The trainer's latest progress record, if one was read. */
  progress?: Progress;
  pods: readonly ObservedPod[];
  /** Nodes the job's pods are bound to; a bound node that is absent here is gone. */
  nodes: ReadonlyMap<string, ObservedNode>;
  serviceExists: boolean;
  pdbExists: boolean;
}
