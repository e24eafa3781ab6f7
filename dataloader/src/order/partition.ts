// Which global samples each data-parallel rank reads at each step. Pure arithmetic on a resume anchor, so a change of
// world size (or of global batch) at a resume re-partitions what remains with nothing repeated and nothing skipped.
import { PartitionError } from "../errors.js";

/** The consumed-sample counter at a step: `consumedSamples` samples were read before step `step` began. */
export interface ResumeAnchor {
  step: number;
  consumedSamples: number;
}

export const FRESH_START: ResumeAnchor = { step: 0, consumedSamples: 0 };

export interface PartitionInput {
  step: number;
  rank: number;
  worldSize: number;
  /** Samples per optimizer step across all ranks. */
  globalBatch: number;
  anchor: ResumeAnchor;
}

/** A half-open range of global sample indices [start, start + count). */
export interface SampleRange {
  start: number;
  count: number;
}

/** Samples consumed before `step` starts. */
export function consumedBefore(step: number, globalBatch: number, anchor: ResumeAnchor): number {
  if (!Number.isInteger(step) || step < anchor.step) throw new PartitionError(`step ${step} is before the resume step ${anchor.step}`);
  return anchor.consumedSamples + (step - anchor.step) * globalBatch;
}

/** Global batch `step`: every sample that step reads, across ranks. */
export function batchRange(step: number, globalBatch: number, anchor: ResumeAnchor): SampleRange {
  return { start: consumedBefore(step, globalBatch, anchor), count: globalBatch };
}

/** Rank `rank`'s contiguous slice of global batch `step`; ranks in order tile the batch exactly. */
export function sequencesFor(input: PartitionInput): SampleRange {
  const { rank, worldSize, globalBatch } = input;
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new PartitionError(`world size must be a positive integer, got ${worldSize}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new PartitionError(`rank ${rank} is outside world size ${worldSize}`);
  if (!Number.isInteger(globalBatch) || globalBatch < 1) throw new PartitionError(`global batch must be a positive integer, got ${globalBatch}`);
  // Equal slices on every rank: uneven ones are what hangs DDP collectives.
  if (globalBatch % worldSize !== 0) throw new PartitionError(`global batch ${globalBatch} does not split evenly across ${worldSize} ranks`);
  const perRank = globalBatch / worldSize;
  const batch = batchRange(input.step, globalBatch, input.anchor);
  return { start: batch.start + rank * perRank, count: perRank };
}
