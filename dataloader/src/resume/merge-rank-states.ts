// Raw-text resume state is per rank (each rank's byte cursors). The trainer gathers every rank's stateAt(step) and
// commits one merged state, so one Redis record (and one checkpoint copy) resumes every rank.
import { InvalidResumeStateError } from "../errors.js";
import type { ResumeState } from "./resume-state.js";

export function mergeRankStates(states: readonly ResumeState[]): ResumeState {
  const first = states[0];
  if (first === undefined) throw new InvalidResumeStateError("mergeRankStates", "no states to merge");
  for (const s of states) {
    for (const k of ["jobUid", "step", "fingerprint", "consumedSamples", "worldSize", "seed", "contextLength", "globalBatch"] as const) {
      if (s[k] !== first[k]) throw new InvalidResumeStateError("mergeRankStates", `rank states disagree on ${k}: ${String(first[k])} and ${String(s[k])}`);
    }
  }
  const cursors = states.flatMap((s) => s.cursors).sort((a, b) => a.rank - b.rank || (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
  for (let i = 1; i < cursors.length; i++) {
    const a = cursors[i - 1];
    const b = cursors[i];
    if (a !== undefined && b !== undefined && a.rank === b.rank && a.stream === b.stream) throw new InvalidResumeStateError("mergeRankStates", `two cursors for rank ${a.rank} in stream ${a.stream}`);
  }
  const ranks = new Set(cursors.map((c) => c.rank));
  if (cursors.length > 0 && ranks.size !== first.worldSize) throw new InvalidResumeStateError("mergeRankStates", `cursors cover ${ranks.size} of ${first.worldSize} ranks`);
  return { ...first, attempt: Math.max(...states.map((s) => s.attempt)), cursors };
}
