// The progress record rank 0 publishes (crds/src/contract/progress.ts): pure formatting and rate limiting.

export interface ProgressSample {
  step: number;
  totalSteps: number;
  loss: number;
  tokensPerSecond: number;
  etaSeconds?: number;
  checkpoint?: { step: number; uri: string; time: string };
}

/** The Redis hash fields of a record; every value a decimal string, as the operator parses them. */
export function progressFields(p: ProgressSample): Record<string, string> {
  const out: Record<string, string> = {
    step: String(p.step),
    totalSteps: String(p.totalSteps),
    loss: Number.isFinite(p.loss) ? p.loss.toPrecision(6) : "NaN",
    tokensPerSecond: String(Math.round(p.tokensPerSecond)),
  };
  if (p.etaSeconds !== undefined) out["etaSeconds"] = String(p.etaSeconds);
  if (p.checkpoint) {
    out["checkpointStep"] = String(p.checkpoint.step);
    out["checkpointUri"] = p.checkpoint.uri;
    out["checkpointTime"] = p.checkpoint.time;
  }
  return out;
}

/** Seconds left at the recent pace: steps left times the mean seconds per step. */
export function etaSeconds(stepsLeft: number, secondsPerStep: number): number {
  return Math.max(0, Math.round(stepsLeft * secondsPerStep));
}

/** Publishes at most once per interval, plus always on a new checkpoint and on the last step. */
export class ProgressThrottle {
  private last = -Infinity;
  private lastCheckpoint = -1;
  constructor(private readonly intervalMs: number) {}

  due(nowMs: number, p: ProgressSample): boolean {
    const checkpointed = p.checkpoint !== undefined && p.checkpoint.step !== this.lastCheckpoint;
    if (!checkpointed && p.step < p.totalSteps && nowMs - this.last < this.intervalMs) return false;
    this.last = nowMs;
    if (p.checkpoint) this.lastCheckpoint = p.checkpoint.step;
    return true;
  }
}
