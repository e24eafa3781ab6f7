// Chooses the state to resume from: Redis's copy for the checkpoint step, else the copy embedded in the checkpoint
// (Redis may have lost its data). Never silently restarts from sample 0 when a checkpoint exists, and never resumes
// on a changed dataset.
import { MissingResumeStateError, ResumeStateConflictError } from "../errors.js";
import { assertSameDataset, canonicalJson } from "../manifest/fingerprint.js";
import type { ResumeState } from "./resume-state.js";

export interface ResumeInputs {
  jobUid: string;
  /** Step of the checkpoint being restored; undefined for a fresh start. */
  checkpointStep: number | undefined;
  fromRedis: ResumeState | undefined;
  fromCheckpoint: ResumeState | undefined;
  /** Fingerprint of the manifest the job reads now. */
  fingerprint: string;
}

export type ResumeDecision = { kind: "fresh" } | { kind: "resume"; state: ResumeState; origin: "redis" | "checkpoint" };

/** The fields that fix the sample stream; the rest (attempt, world size) may differ between two honest copies. */
const position = (s: ResumeState) => canonicalJson({ f: s.fingerprint, c: s.consumedSamples, s: s.seed, l: s.contextLength, r: s.cursors });

export function resolveResume(input: ResumeInputs): ResumeDecision {
  if (input.checkpointStep === undefined) return { kind: "fresh" };
  const step = input.checkpointStep;
  const usable = (s: ResumeState | undefined): s is ResumeState => s !== undefined && s.step === step && s.jobUid === input.jobUid;
  const redis = usable(input.fromRedis) ? input.fromRedis : undefined;
  const checkpoint = usable(input.fromCheckpoint) ? input.fromCheckpoint : undefined;
  if (redis !== undefined && checkpoint !== undefined && position(redis) !== position(checkpoint)) {
    throw new ResumeStateConflictError(input.jobUid, step, `Redis has consumedSamples ${redis.consumedSamples}, the checkpoint ${checkpoint.consumedSamples}`);
  }
  const pick = redis !== undefined ? { state: redis, origin: "redis" as const } : checkpoint !== undefined ? { state: checkpoint, origin: "checkpoint" as const } : undefined;
  if (pick === undefined) {
    if (step === 0) return { kind: "fresh" };
    throw new MissingResumeStateError(input.jobUid, step);
  }
  assertSameDataset(pick.state.fingerprint, input.fingerprint);
  return { kind: "resume", ...pick };
}
