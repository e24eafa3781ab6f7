// Held-out cross-entropy for comparing a model with its factorized copy: text cut into rows of contextLength + 1
// tokens, the mean next-token loss over them, no gradients.
import * as tf from "@tensorflow/tfjs-core";
import { crossEntropy } from "../model/gpt.js";

/** Consecutive rows of seqLen + 1 tokens (each overlapping the next by one), at most maxRows; the rest is dropped. */
export function rowsFromTokens(tokens: readonly number[], seqLen: number, maxRows = Infinity): Int32Array[] {
  const rows: Int32Array[] = [];
  for (let start = 0; start + seqLen + 1 <= tokens.length && rows.length < maxRows; start += seqLen) rows.push(Int32Array.from(tokens.slice(start, start + seqLen + 1)));
  return rows;
}

/** Mean over rows (and positions) of the next-token cross-entropy of `logits`, in batches of `batch` rows. */
export async function meanCrossEntropy(logits: (tokens: tf.Tensor2D) => tf.Tensor3D, rows: readonly Int32Array[], batch = 8): Promise<number> {
  const first = rows[0];
  if (first === undefined) throw new RangeError("no rows to evaluate");
  const seqLen = first.length - 1;
  let sum = 0;
  for (let start = 0; start < rows.length; start += batch) {
    const chunk = rows.slice(start, start + batch);
    const loss = tf.tidy(() => {
      const inputs = tf.tensor2d(chunk.flatMap((r) => Array.from(r.subarray(0, seqLen))), [chunk.length, seqLen], "int32");
      const targets = tf.tensor2d(chunk.flatMap((r) => Array.from(r.subarray(1))), [chunk.length, seqLen], "int32");
      return tf.mul(crossEntropy(logits(inputs), targets), chunk.length);
    });
    sum += ((await loss.data()) as Float32Array)[0] as number;
    loss.dispose();
  }
  return sum / rows.length;
}
