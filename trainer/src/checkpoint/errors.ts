// Typed errors of checkpoints. Each names the step directory or object it is about.

/** A checkpoint directory that must not be loaded: no manifest, a bad manifest, or files that do not match it. */
export class CorruptCheckpointError extends Error {
  constructor(
    readonly location: string,
    readonly reason: string,
  ) {
    super(`checkpoint ${location} is not usable: ${reason}`);
    this.name = "CorruptCheckpointError";
  }
}

/** Writing part of a checkpoint failed for good, after retries; the checkpoint was not committed. */
export class CheckpointWriteError extends Error {
  constructor(
    readonly location: string,
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(`writing ${location} failed after ${attempts} attempt(s): ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "CheckpointWriteError";
  }
}

/** save() was given inconsistent fields (a data state of another step or dataset): a bug in the caller. */
export class CheckpointInputError extends Error {
  constructor(
    readonly step: number,
    readonly reason: string,
  ) {
    super(`checkpoint of step ${step}: ${reason}`);
    this.name = "CheckpointInputError";
  }
}
