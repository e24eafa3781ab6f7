// The messages between bench-parallel's parent and its rank processes (besides the address book's).
import type { ModelConfig } from "../../trainer/src/model/model-config.js";
import type { PipelineScheduleKind } from "../../trainer/src/parallel/pipeline-schedule.js";

/** One rank's part in one configuration's run. */
export interface RankSpec {
  kind: "run";
  rank: number;
  worldSize: number;
  tp: number;
  pp: number;
  schedule: PipelineScheduleKind;
  /** A plain data-parallel Trainer (whole model, no model-parallel objective): the DP-only baseline. */
  plainDp: boolean;
  model: ModelConfig;
  globalBatch: number;
  microBatch: number;
  warmupSteps: number;
  timedSteps: number;
}

/** What a rank measured over its timed steps. */
export interface RankResult {
  kind: "result";
  rank: number;
  coords: { dp: number; tp: number; pp: number };
  /** Every step's mean loss, warm-up included (the same on every rank). */
  losses: number[];
  /** Wall time of each timed step on this rank, from a world barrier to the step's end. */
  stepMs: number[];
  /** Bytes this rank wrote on all its links during the timed steps (barriers excluded). */
  bytesSent: number;
  /** Per timed step, the pipeline profile's growth: the schedule's span on this rank and its time awaiting a
   * neighbour inside it (zeros for a plain DP trainer). */
  scheduleMs: number[];
  waitMs: number[];
  /** Floats of the parameters this rank holds (the trainer's live accounting / 4). */
  paramFloats: number;
  /** Floats of the tensors it trains (Ψ_local), for the byte theory. */
  trainableFloats: number;
}

export interface RankFailure {
  kind: "error";
  rank: number;
  message: string;
}

export type FromRank = RankResult | RankFailure;

export const isFromRank = (m: unknown): m is FromRank => typeof m === "object" && m !== null && ((m as { kind?: unknown }).kind === "result" || (m as { kind?: unknown }).kind === "error");
export const isRankSpec = (m: unknown): m is RankSpec => typeof m === "object" && m !== null && (m as { kind?: unknown }).kind === "run";
