// How a trainer process ends, and what the operator makes of it. The trainer exits with these codes; the operator
// classifies a worker's exit with classifyExit.

export const EXIT = {
  /** This rank finished. Rank 0 exits 0 only after the final checkpoint has committed. */
  success: 0,
  /** The job's configuration cannot work (bad spec, incompatible checkpoint): retrying cannot help. */
  badConfig: 2,
  /** The data cannot be read as given (corrupt shard, changed dataset fingerprint): retrying cannot help. */
  badData: 3,
  /** A transient failure the trainer recognised (lost peer, storage timeout): retry from the checkpoint. */
  retryable: 75,
  /** SIGTERM reached the trainer; every rank agreed a stop step, checkpointed it and exited. Resumable, not a failure. */
  preempted: 76,
} as const;

export type ExitClass = "success" | "permanent" | "retryable" | "preempted";

export interface ExitVerdict {
  kind: ExitClass;
  /** CamelCase reason for conditions and events. */
  reason: string;
}

const PERMANENT: Record<number, string> = { [EXIT.badConfig]: "InvalidConfiguration", [EXIT.badData]: "InvalidData" };

/** Classifies a container's termination. `reason` is the kubelet's (for example "OOMKilled" or "Error"). */
export function classifyExit(code: number, reason?: string): ExitVerdict {
  if (code === EXIT.success) return { kind: "success", reason: "Completed" };
  const permanent = PERMANENT[code];
  if (permanent !== undefined) return { kind: "permanent", reason: permanent };
  if (code === EXIT.preempted) return { kind: "preempted", reason: "Preempted" };
  if (reason === "OOMKilled") return { kind: "retryable", reason: "OOMKilled" };
  if (code >= 128) return { kind: "retryable", reason: `KilledBySignal${code - 128}` };
  return { kind: "retryable", reason: "WorkerFailed" };
}
