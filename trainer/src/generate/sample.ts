// Autoregressive sampling from a trained model: temperature and top-k, with counter-based randomness (a hash of
// seed and position), so the same seed and prompt give the same text on any backend and run.
import * as tf from "@tensorflow/tfjs-core";
import { hashWords } from "@gantry/dataloader";
import { forward } from "../model/gpt.js";
import type { GptWeights } from "../model/gpt-weights.js";
import type { ModelConfig } from "../model/model-config.js";

export interface SampleOptions {
  maxNewTokens: number;
  /** 0 picks the most likely token (greedy). */
  temperature: number;
  /** Sample among the k most likely tokens; 0 means all. */
  topK: number;
  seed: number;
  /** Stop early when this token is produced (the tokenizer's end-of-text). */
  stopToken?: number;
}

/** Picks the next token from one row of logits; pure. `u` is a uniform draw in [0, 1). */
export function pickToken(logits: Float32Array, temperature: number, topK: number, u: number): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if ((logits[i] ?? -Infinity) > (logits[best] ?? -Infinity)) best = i;
  if (temperature <= 0) return best;
  const order = Array.from(logits.keys()).sort((a, b) => (logits[b] ?? 0) - (logits[a] ?? 0) || a - b);
  const kept = topK > 0 ? order.slice(0, topK) : order;
  const max = logits[best] ?? 0;
  const weights = kept.map((i) => Math.exp(((logits[i] ?? 0) - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let r = u * total;
  for (const [j, w] of weights.entries()) {
    r -= w;
    if (r < 0) return kept[j] ?? best;
  }
  return kept.at(-1) ?? best;
}

const uniform = (seed: number, position: number) => hashWords(seed, 0x5a3e, position) / 4_294_967_296;

/** The prompt's tokens followed by up to maxNewTokens sampled ones; the window slides at contextLength. */
export async function sample(config: ModelConfig, weights: GptWeights, prompt: readonly number[], opts: SampleOptions): Promise<number[]> {
  const out = prompt.length > 0 ? [...prompt] : [opts.stopToken ?? 0];
  for (let n = 0; n < opts.maxNewTokens; n++) {
    const window = out.slice(-config.contextLength);
    const last = tf.tidy(() => {
      const logits = forward(config, weights, tf.tensor2d(window, [1, window.length], "int32"));
      return tf.reshape(tf.slice(logits, [0, window.length - 1, 0], [1, 1, config.vocabSize]), [config.vocabSize]);
    });
    const row = (await last.data()) as Float32Array;
    last.dispose();
    const token = pickToken(row, opts.temperature, opts.topK, uniform(opts.seed, out.length));
    out.push(token);
    if (token === opts.stopToken) break;
  }
  return out;
}
