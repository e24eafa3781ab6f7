// Counters of the prefetch pipeline: what it read, what it tokenized, how full its buffer is, and how long the
// consumer (the trainer) waited for a batch. Rates are over the loader's lifetime so far.

export interface PipelineSnapshot {
  seconds: number;
  bytesRead: number;
  tokens: number;
  samples: number;
  bytesPerSecond: number;
  tokensPerSecond: number;
  /** Bytes held in the pipeline now (text awaiting tokenization, tokens awaiting packing, ready samples). */
  bufferBytes: number;
  budgetBytes: number;
  /** bufferBytes / budgetBytes. */
  bufferFill: number;
  /** Total time batch() spent waiting for samples that were not ready. */
  consumerWaitMs: number;
}

export class PipelineMetrics {
  private readonly started = process.hrtime.bigint();
  bytesRead = 0;
  tokens = 0;
  samples = 0;
  consumerWaitMs = 0;

  constructor(readonly budgetBytes: number) {}

  snapshot(bufferBytes: number): PipelineSnapshot {
    const seconds = Math.max(1e-9, Number(process.hrtime.bigint() - this.started) / 1e9);
    return {
      seconds,
      bytesRead: this.bytesRead,
      tokens: this.tokens,
      samples: this.samples,
      bytesPerSecond: this.bytesRead / seconds,
      tokensPerSecond: this.tokens / seconds,
      bufferBytes,
      budgetBytes: this.budgetBytes,
      bufferFill: bufferBytes / this.budgetBytes,
      consumerWaitMs: this.consumerWaitMs,
    };
  }
}
