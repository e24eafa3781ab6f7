// The dataloader's resume state: everything needed to continue the exact sample stream from a checkpoint step.
// The same object goes to Redis (fenced) and into the checkpoint manifest, so either copy alone resumes.
import { z } from "zod";
import { InvalidResumeStateError } from "../errors.js";
import { consumedBefore, type ResumeAnchor } from "../order/partition.js";

const Count = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

/** Where one rank is in a raw-text stream, which has no fixed sample positions: the packer's carry-over is part of it. */
export const RankCursor = z.strictObject({
  rank: Count,
  stream: z.string().min(1),
  /** The file being read (its key under the stream's root). */
  shard: z.string().min(1),
  /** Next byte to read: just past the last document the packer took (uncompressed offset for .gz). */
  byteOffset: Count,
  /** Tokens the packer held back for the next sample, not yet emitted. */
  carry: z.array(z.int()),
  /** Positions in `carry` where a document starts (for attention masks after a resume). */
  carryDocumentStarts: z.array(Count),
  /** This rank's epoch over the stream's files (ranks finish their files at different times). */
  epoch: Count,
  /** Samples this rank has drawn from this stream: the mix schedule's count. */
  samples: Count,
});

export const ResumeState = z.strictObject({
  version: z.literal(1),
  jobUid: z.string().min(1),
  /** Attempt (restart generation) of the job that wrote this; the fence orders writers by (attempt, step). */
  attempt: Count,
  /** Optimizer steps completed: the checkpoint at this step resumes by running step `step` next. */
  step: Count,
  /** Fingerprint of the manifest the samples were counted on. */
  fingerprint: z.string().min(1),
  seed: z.int().min(0).max(4_294_967_295),
  /** Global samples consumed before `step`, across ranks and epochs. */
  consumedSamples: Count,
  epoch: Count,
  sampleInEpoch: Count,
  samplesPerEpoch: Count,
  globalBatch: z.int().min(1),
  worldSize: z.int().min(1),
  contextLength: z.int().min(1),
  /** Raw-text streams only, one per (rank, stream); empty for token shards, whose positions follow from consumedSamples. */
  cursors: z.array(RankCursor),
});

export type RankCursor = z.output<typeof RankCursor>;
export type ResumeState = z.output<typeof ResumeState>;

export interface StateInput {
  jobUid: string;
  attempt: number;
  fingerprint: string;
  seed: number;
  samplesPerEpoch: number;
  globalBatch: number;
  worldSize: number;
  contextLength: number;
  anchor: ResumeAnchor;
  cursors?: RankCursor[];
}

/** The state a checkpoint taken after `step` steps resumes from. */
export function stateAt(step: number, input: StateInput): ResumeState {
  const consumedSamples = consumedBefore(step, input.globalBatch, input.anchor);
  // samplesPerEpoch 0: a raw-text stream, whose epoch length is unknown; its epochs are per rank, in the cursors.
  const epoch = input.samplesPerEpoch === 0 ? 0 : Math.floor(consumedSamples / input.samplesPerEpoch);
  return {
    version: 1,
    jobUid: input.jobUid,
    attempt: input.attempt,
    step,
    fingerprint: input.fingerprint,
    seed: input.seed,
    consumedSamples,
    epoch,
    sampleInEpoch: consumedSamples - epoch * input.samplesPerEpoch,
    samplesPerEpoch: input.samplesPerEpoch,
    globalBatch: input.globalBatch,
    worldSize: input.worldSize,
    contextLength: input.contextLength,
    cursors: input.cursors ?? [],
  };
}

export function anchorOf(state: ResumeState): ResumeAnchor {
  return { step: state.step, consumedSamples: state.consumedSamples };
}

/** Validates a state read back from `origin` (Redis, a checkpoint file). */
export function parseResumeState(origin: string, value: unknown): ResumeState {
  let json = value;
  if (typeof value === "string") {
    try {
      json = JSON.parse(value);
    } catch (err) {
      throw new InvalidResumeStateError(origin, `not JSON: ${(err as Error).message}`);
    }
  }
  const parsed = ResumeState.safeParse(json);
  if (!parsed.success) throw new InvalidResumeStateError(origin, parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; "));
  const s = parsed.data;
  if (s.epoch * s.samplesPerEpoch + s.sampleInEpoch !== s.consumedSamples) {
    throw new InvalidResumeStateError(origin, `epoch ${s.epoch} and sampleInEpoch ${s.sampleInEpoch} disagree with consumedSamples ${s.consumedSamples}`);
  }
  return s;
}
