// A checkpoint made from another one by a tool (gantry-train merge, gantry-factorize): new weights, no optimizer
// moments (they belonged to the source's parameters, so a fine-tune of the result starts its optimizer afresh), and
// the source's step and data provenance carried over, so the result resumes and reports like the source.
import type { CheckpointS3Client } from "./checkpoint-store.js";
import { openCheckpointStore } from "./checkpoint-store.js";
import { CheckpointWriter, type CommittedCheckpoint } from "./checkpoint-writer.js";
import type { CheckpointManifest } from "./manifest.js";
import type { NamedArray } from "./named-array.js";

export interface DerivedCheckpoint {
  /** Root to write under (file:// or s3://). */
  uri: string;
  s3?: CheckpointS3Client;
  /** The manifest of the checkpoint it derives from: step, tokens, world size, config and data provenance. */
  source: CheckpointManifest;
  weights: readonly NamedArray[];
  /** The manifest's extra, whole (nothing of the source's is inherited here). */
  extra: Record<string, string | number | boolean>;
  codeVersion: string;
  /** Committed checkpoints to keep under `uri`. */
  keep: number;
}

export function writeDerivedCheckpoint(c: DerivedCheckpoint): Promise<CommittedCheckpoint> {
  const m = c.source;
  return new CheckpointWriter(openCheckpointStore(c.uri, c.s3), { codeVersion: c.codeVersion, keep: c.keep }).save({
    step: m.step,
    weights: c.weights,
    optimizer: [],
    tokensSeen: m.tokensSeen,
    worldSize: m.worldSize,
    configHash: m.configHash,
    datasetFingerprint: m.datasetFingerprint,
    dataState: m.dataState,
    extra: c.extra,
  });
}
