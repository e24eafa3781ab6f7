// Typed errors of the dataloader. Each carries the thing it is about (a shard, an object, a job) so a log line alone says what broke.

/** A shard's .idx or .bin cannot be decoded, or disagrees with its manifest entry. */
export class CorruptShardError extends Error {
  constructor(
    readonly shard: string,
    readonly reason: string,
  ) {
    super(`shard ${shard} is corrupt: ${reason}`);
    this.name = "CorruptShardError";
  }
}

/** A shard file's bytes do not hash to the checksum the manifest records. */
export class ChecksumMismatchError extends Error {
  constructor(
    readonly shard: string,
    readonly file: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`shard ${shard}: ${file} has sha256 ${actual}, the manifest says ${expected}`);
    this.name = "ChecksumMismatchError";
  }
}

/** index.json does not parse or does not follow the manifest schema. */
export class InvalidManifestError extends Error {
  constructor(
    readonly location: string,
    readonly reason: string,
  ) {
    super(`manifest ${location} is invalid: ${reason}`);
    this.name = "InvalidManifestError";
  }
}

/** Resume state was recorded against another dataset: resuming would silently skip or repeat samples. */
export class FingerprintMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`resume state belongs to dataset ${expected}, but the manifest now has fingerprint ${actual}; refusing to resume on a changed dataset`);
    this.name = "FingerprintMismatchError";
  }
}

/** A batch cannot be split evenly across ranks, or the step/rank is out of range. */
export class PartitionError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "PartitionError";
  }
}

/** Reading an object failed for good, after any retries. */
export class ObjectReadError extends Error {
  constructor(
    readonly object: string,
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(`reading ${object} failed after ${attempts} attempt(s): ${describeCause(cause)}`);
    this.name = "ObjectReadError";
  }
}

/** A commit lost the fence: a newer attempt, or a later step of the same attempt, was already committed. */
export class StaleCommitError extends Error {
  constructor(
    readonly jobUid: string,
    readonly attempt: number,
    readonly step: number,
    readonly headAttempt: number,
    readonly headStep: number,
  ) {
    super(`job ${jobUid}: commit of step ${step} by attempt ${attempt} is stale; attempt ${headAttempt} already committed step ${headStep}`);
    this.name = "StaleCommitError";
  }
}

/** A resume from a checkpoint step found no data state, neither in Redis nor in the checkpoint. */
export class MissingResumeStateError extends Error {
  constructor(
    readonly jobUid: string,
    readonly step: number,
  ) {
    super(`job ${jobUid}: no dataloader state for step ${step} in Redis or in the checkpoint; refusing to restart the data from sample 0`);
    this.name = "MissingResumeStateError";
  }
}

/** A state record read back (from Redis or a checkpoint) does not follow the schema. */
export class InvalidResumeStateError extends Error {
  constructor(
    readonly origin: string,
    readonly reason: string,
  ) {
    super(`resume state from ${origin} is invalid: ${reason}`);
    this.name = "InvalidResumeStateError";
  }
}

/** A source URI is neither s3://bucket/prefix nor file:///path. */
export class UnsupportedSourceError extends Error {
  constructor(readonly uri: string) {
    super(`unsupported data source ${uri}: expected s3://bucket/prefix or file:///path`);
    this.name = "UnsupportedSourceError";
  }
}

export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === "string" && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message;
  }
  return String(cause);
}

/** Redis and the checkpoint hold different data positions for the same step: one of them is from another timeline. */
export class ResumeStateConflictError extends Error {
  constructor(
    readonly jobUid: string,
    readonly step: number,
    readonly reason: string,
  ) {
    super(`job ${jobUid}: Redis and the checkpoint disagree on the data state of step ${step}: ${reason}`);
    this.name = "ResumeStateConflictError";
  }
}

/** A raw-text resume asked for something its per-rank cursors cannot give exactly, such as another world size. */
export class StreamRepartitionError extends Error {
  constructor(
    readonly jobUid: string,
    readonly stateWorldSize: number,
    readonly worldSize: number,
  ) {
    super(
      `job ${jobUid}: raw-text streams resume only on the world size that wrote the state (${stateWorldSize}), not ${worldSize}: each rank reads its own files from its own byte cursor. Resume on ${stateWorldSize} ranks, or convert the corpus with gantry-data prepare (token shards re-partition exactly)`,
    );
    this.name = "StreamRepartitionError";
  }
}

/** A streaming loader was asked for a step other than the next one (or the last one, again). */
export class StreamOrderError extends Error {
  constructor(
    readonly asked: number,
    readonly next: number,
  ) {
    super(`raw-text streams are read in order: asked for step ${asked}, the next step is ${next}`);
    this.name = "StreamOrderError";
  }
}

/** A raw-text record cannot be used: not JSON, no text field, or longer than the limit. */
export class InvalidTextRecordError extends Error {
  constructor(
    readonly object: string,
    readonly byteOffset: number,
    readonly reason: string,
  ) {
    super(`${object} at byte ${byteOffset}: ${reason}`);
    this.name = "InvalidTextRecordError";
  }
}
