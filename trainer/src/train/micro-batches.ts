// Turns a rank's token rows into micro-batches of (inputs, targets): pure array work, checked, before any tensor.

export interface MicroBatch {
  rows: number;
  seqLen: number;
  /** [rows, seqLen] row-major: tokens [0, T) of each row. */
  inputs: Int32Array;
  /** [rows, seqLen]: tokens [1, T] of each row. */
  targets: Int32Array;
}

export class BatchError extends Error {
  constructor(
    message: string,
    readonly row?: number,
  ) {
    super(row === undefined ? message : `row ${row}: ${message}`);
    this.name = "BatchError";
  }
}

/**
 * Splits `rows` (each contextLength + 1 tokens, or fewer but all equal) into micro-batches of `microBatchSize` rows,
 * checking lengths and that every token is in [0, vocabSize). With `allowRemainder` (evaluation) the last
 * micro-batch may be smaller; training needs equal micro-batches so that the mean of their means is the batch mean.
 */
export function toMicroBatches(
  rows: readonly Int32Array[],
  microBatchSize: number,
  maxSeqLen: number,
  vocabSize: number,
  allowRemainder = false,
): MicroBatch[] {
  const first = rows[0];
  if (first === undefined) throw new BatchError("no rows");
  if (!allowRemainder && rows.length % microBatchSize !== 0) throw new BatchError(`${rows.length} rows do not split into micro-batches of ${microBatchSize}`);
  const seqLen = first.length - 1;
  if (seqLen < 1 || seqLen > maxSeqLen) throw new BatchError(`rows of ${first.length} tokens: need 2 to contextLength + 1 = ${maxSeqLen + 1}`, 0);
  const out: MicroBatch[] = [];
  for (let start = 0; start < rows.length; start += microBatchSize) {
    const n = Math.min(microBatchSize, rows.length - start);
    const inputs = new Int32Array(n * seqLen);
    const targets = new Int32Array(n * seqLen);
    for (let r = 0; r < n; r++) {
      const row = rows[start + r] as Int32Array;
      if (row.length !== seqLen + 1) throw new BatchError(`${row.length} tokens, the first row has ${seqLen + 1}`, start + r);
      for (let j = 0; j <= seqLen; j++) {
        const tok = row[j] as number;
        if (tok < 0 || tok >= vocabSize) throw new BatchError(`token ${tok} at ${j} is outside the vocabulary [0, ${vocabSize})`, start + r);
      }
      inputs.set(row.subarray(0, seqLen), r * seqLen);
      targets.set(row.subarray(1), r * seqLen);
    }
    out.push({ rows: n, seqLen, inputs, targets });
  }
  return out;
}
