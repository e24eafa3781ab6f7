// The partial manifest `gantry-data prepare` keeps while it runs: the shards already uploaded, in order, and the input
// position just past the last document they hold. A rerun on the same inputs keeps those shards and starts tokenizing
// there; since a shard is cut only after a whole document, the result is byte-identical to an uninterrupted run.
import { z } from "zod";
import { sha256Hex } from "../checksum.js";
import { canonicalJson } from "../manifest/fingerprint.js";
import { ShardEntry } from "../manifest/manifest-schema.js";

export const PARTIAL_MANIFEST_FILE = "index.partial.json";

const Count = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

/** The next document to read: `document` documents of input file `file` are already in shards (earlier files wholly). */
export const PreparePosition = z.strictObject({ file: Count, document: Count });
export type PreparePosition = z.output<typeof PreparePosition>;

export const PrepareCheckpoint = z.strictObject({
  version: z.literal(1),
  /** prepareInputsFingerprint of the run that wrote it: a rerun on other inputs or options must not continue it. */
  inputs: z.string().min(1),
  shards: z.array(ShardEntry),
  next: PreparePosition,
});
export type PrepareCheckpoint = z.output<typeof PrepareCheckpoint>;

export interface PrepareInputs {
  files: readonly { path: string; bytes: number }[];
  format: "jsonl" | "text";
  textField: string;
  tokenizer: string;
  shardBytes: number;
}

/** What fixes a run's output: the input files (paths and sizes, in order) and every option that shapes the shards. */
export function prepareInputsFingerprint(inputs: PrepareInputs): string {
  return `sha256:${sha256Hex(canonicalJson({ ...inputs, files: inputs.files.map((f) => ({ path: f.path, bytes: f.bytes })) }))}`;
}

/** A partial manifest that does not parse; the error names where it was read. */
export class InvalidPrepareCheckpointError extends Error {
  constructor(
    readonly location: string,
    readonly reason: string,
  ) {
    super(`partial manifest ${location} is invalid: ${reason}; delete it or rerun with --restart`);
    this.name = "InvalidPrepareCheckpointError";
  }
}

/** The partial manifest was written for other inputs or options: continuing it would mix two datasets. */
export class PrepareInputsChangedError extends Error {
  constructor(
    readonly location: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`partial manifest ${location} was written for inputs ${expected}, these are ${actual} (files, sizes or options changed); rerun with --restart to start over`);
    this.name = "PrepareInputsChangedError";
  }
}

export function parsePrepareCheckpoint(location: string, text: string): PrepareCheckpoint {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InvalidPrepareCheckpointError(location, `not JSON: ${(err as Error).message}`);
  }
  const parsed = PrepareCheckpoint.safeParse(json);
  if (!parsed.success) throw new InvalidPrepareCheckpointError(location, parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; "));
  return parsed.data;
}

/** Whether document `document` of file `file` is already in the kept shards. */
export function alreadyPrepared(next: PreparePosition, file: number, document: number): boolean {
  return file < next.file || (file === next.file && document < next.document);
}
