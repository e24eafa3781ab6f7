// Typed errors of inference: each names what was asked and the limit it broke, so a CLI can print it as is.

/** The tokens would not fit in the model's context (prompt plus generation, or a cache extended past it). */
export class ContextOverflowError extends Error {
  constructor(
    readonly requested: number,
    readonly contextLength: number,
    readonly what: string,
  ) {
    super(`${what}: ${requested} tokens do not fit in the model's context of ${contextLength}`);
    this.name = "ContextOverflowError";
  }
}

/** A decoding option out of range (temperature, top-p, beam width, draft length …). */
export class DecodingOptionError extends Error {
  constructor(
    readonly option: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`${option} = ${JSON.stringify(value)}: expected ${expected}`);
    this.name = "DecodingOptionError";
  }
}

/** The draft model cannot serve the target: another vocabulary or a shorter context. */
export class DraftMismatchError extends Error {
  constructor(readonly reason: string) {
    super(`the draft model does not fit the target: ${reason}`);
    this.name = "DraftMismatchError";
  }
}
