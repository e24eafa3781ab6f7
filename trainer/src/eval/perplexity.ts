// Perplexity of a model over rows of tokens: exp of the mean next-token cross-entropy over every predicted token.
import * as tf from "@tensorflow/tfjs-core";
import { crossEntropy, forward } from "../model/gpt.js";
import type { GptWeights } from "../model/gpt-weights.js";
import type { ModelConfig } from "../model/model-config.js";

export interface PerplexityResult {
  /** Mean natural-log cross-entropy per predicted token. */
  loss: number;
  perplexity: number;
  /** Tokens predicted. */
  tokens: number;
}

export interface PerplexityOptions {
  /** Rows per forward pass (default 8). */
  batchSize?: number;
  onProgress?: (rowsDone: number, rowsTotal: number) => void;
}

/** Rows of n + 1 tokens (n ≤ contextLength); rows of one batch are cut to the shortest. */
export async function perplexityOf(config: ModelConfig, w: GptWeights, rows: readonly Int32Array[], opts: PerplexityOptions = {}): Promise<PerplexityResult> {
  const batch = opts.batchSize ?? 8;
  let sum = 0;
  let tokens = 0;
  for (let i = 0; i < rows.length; i += batch) {
    const part = rows.slice(i, i + batch);
    const n = Math.min(config.contextLength + 1, ...part.map((r) => r.length)) - 1;
    if (n < 1) continue;
    const loss = tf.tidy(() => {
      const inputs = tf.tensor2d(Int32Array.from(part.flatMap((r) => Array.from(r.subarray(0, n)))), [part.length, n], "int32");
      const targets = tf.tensor2d(Int32Array.from(part.flatMap((r) => Array.from(r.subarray(1, n + 1)))), [part.length, n], "int32");
      return crossEntropy(forward(config, w, inputs), targets);
    });
    sum += ((await loss.data())[0] as number) * part.length * n;
    loss.dispose();
    tokens += part.length * n;
    opts.onProgress?.(Math.min(i + batch, rows.length), rows.length);
  }
  const loss = tokens === 0 ? Number.NaN : sum / tokens;
  return { loss, perplexity: Math.exp(loss), tokens };
}
