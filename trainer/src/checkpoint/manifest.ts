// The manifest of one checkpoint, written last: what the checkpoint is (step, data position, config) and the size
// and sha256 of every file, so a reader can tell a complete checkpoint from a torn one.
import { z } from "zod";
import { ResumeState } from "@gantry/dataloader";
import { CorruptCheckpointError } from "./errors.js";

const Count = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

export const CHECKPOINT_FORMAT = "gantry-checkpoint/1";

export const FileEntry = z.strictObject({
  bytes: Count,
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "a lowercase hex sha256"),
});

/** How a ZeRO checkpoint is cut: the flat layout and which rank's file holds which parameter elements. */
export const Sharding = z.strictObject({
  zeroStage: z.int().min(1).max(3),
  worldSize: z.int().min(1),
  /** The trainable tensors in flat order: shards are slices of them laid end to end. */
  tensors: z.array(z.strictObject({ name: z.string().min(1), shape: z.array(Count) })).min(1),
  /** By rank: its file in the step directory and the flat parameter elements [start, end) it holds. */
  shards: z.array(z.strictObject({ rank: z.int().min(0), file: z.string().min(1), start: Count, end: Count })).min(1),
  /** Whether the shards hold the parameters too (ZeRO-3); otherwise model.safetensors does. */
  paramsSharded: z.boolean(),
});
export type Sharding = z.output<typeof Sharding>;

export const CheckpointManifest = z.strictObject({
  format: z.literal(CHECKPOINT_FORMAT),
  /** Optimizer steps completed; resuming runs step `step` next. The step the dataloader's commit(step) fences. */
  step: Count,
  tokensSeen: Count,
  /** Ranks of the run that wrote it. */
  worldSize: z.int().min(1),
  /** sha256 of the canonical spec JSON: a resume with another model config is refused by the trainer. */
  configHash: z.string().min(1),
  datasetFingerprint: z.string().min(1),
  /** The dataloader's resume state at `step`, so a resume works even if Redis lost it. */
  dataState: ResumeState,
  /** File name in the step directory → size and sha256. */
  files: z.record(z.string().min(1), FileEntry),
  codeVersion: z.string().min(1),
  createdAt: z.iso.datetime(),
  /** Present for a ZeRO checkpoint: optimizer.safetensors is replaced by per-rank shard files. */
  sharding: Sharding.optional(),
  /** Small scalars the trainer wants back (for example the best validation loss). */
  extra: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});

export type FileEntry = z.output<typeof FileEntry>;
export type CheckpointManifest = z.output<typeof CheckpointManifest>;

export function parseManifest(location: string, bytes: Uint8Array): CheckpointManifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new CorruptCheckpointError(location, `manifest is not JSON: ${(err as Error).message}`);
  }
  const parsed = CheckpointManifest.safeParse(json);
  if (!parsed.success) throw new CorruptCheckpointError(location, `manifest is invalid: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`);
  return parsed.data;
}
