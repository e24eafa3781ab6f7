// Autoregressive generation with the KV cache (or without it, as the reference and for the benchmark): greedy or
// seeded temperature/top-k/top-p sampling, each token handed to onToken as soon as it is chosen.
import * as tf from "@tensorflow/tfjs-core";
import { forward } from "../model/gpt.js";
import type { GptWeights } from "../model/gpt-weights.js";
import type { ModelConfig } from "../model/model-config.js";
import { checkContext, forwardCached } from "./cached-forward.js";
import { DecodingOptionError } from "./errors.js";
import { KvCache } from "./kv-cache.js";
import { DRAW, checkSampling, drawFrom, tokenDistribution, uniformAt, type SamplingOptions } from "./token-choice.js";

/** A model ready to decode: its shape and weights. */
export interface DecodingModel {
  config: ModelConfig;
  weights: GptWeights;
}

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  seed: number;
  /** Stop after this token (the tokenizer's end-of-text); it is included in the output. */
  stopToken?: number;
  /** Default true; false re-runs the whole sequence every step (the uncached reference). */
  useCache?: boolean;
  /** Called with each new token as soon as it is chosen (streaming). */
  onToken?: (token: number, index: number) => void;
}

export interface GenerateResult {
  /** Prompt followed by the new tokens. */
  tokens: number[];
  newTokens: number[];
  /** KV-cache bytes at the end (0 without the cache). */
  cacheBytes: number;
}

export function checkPrompt(config: ModelConfig, prompt: readonly number[], maxNewTokens: number): void {
  if (prompt.length === 0) throw new DecodingOptionError("prompt", [], "at least one token");
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new DecodingOptionError("maxNewTokens", maxNewTokens, "an integer ≥ 0");
  const bad = prompt.find((t) => !Number.isInteger(t) || t < 0 || t >= config.vocabSize);
  if (bad !== undefined) throw new DecodingOptionError("prompt token", bad, `an integer in [0, ${config.vocabSize})`);
  checkContext(config, prompt.length, "the prompt");
  checkContext(config, prompt.length + maxNewTokens, `the prompt (${prompt.length} tokens) plus ${maxNewTokens} new tokens`);
}

/** Logits of the last position of the whole sequence, by the plain forward. */
async function lastLogitsUncached(m: DecodingModel, seq: readonly number[]): Promise<Float32Array> {
  const t = tf.tidy(() => {
    const logits = forward(m.config, m.weights, tf.tensor2d([...seq], [1, seq.length], "int32"));
    return tf.reshape(tf.slice(logits, [0, seq.length - 1, 0], [1, 1, m.config.vocabSize]), [m.config.vocabSize]);
  });
  const row = (await t.data()) as Float32Array;
  t.dispose();
  return row;
}

/** Logits of the last of `fed` new tokens, extending the cache. */
export async function lastLogitsCached(m: DecodingModel, cache: KvCache, fed: readonly number[]): Promise<Float32Array> {
  const logits = forwardCached(m.config, m.weights, [fed], cache);
  const t = tf.tidy(() => tf.reshape(tf.slice(logits, [0, fed.length - 1, 0], [1, 1, m.config.vocabSize]), [m.config.vocabSize]));
  logits.dispose();
  const row = (await t.data()) as Float32Array;
  t.dispose();
  return row;
}

export async function generate(m: DecodingModel, prompt: readonly number[], opts: GenerateOptions): Promise<GenerateResult> {
  checkSampling(opts);
  checkPrompt(m.config, prompt, opts.maxNewTokens);
  const seq = [...prompt];
  const cache = opts.useCache === false ? undefined : new KvCache(m.config, 1);
  try {
    for (let n = 0; n < opts.maxNewTokens; n++) {
      // The cache has seen everything but the newest token(s); only those are fed.
      const row = cache === undefined ? await lastLogitsUncached(m, seq) : await lastLogitsCached(m, cache, seq.slice(cache.length));
      const token = drawFrom(tokenDistribution(row, opts), uniformAt(opts.seed, seq.length, DRAW.sample));
      seq.push(token);
      opts.onToken?.(token, n);
      if (token === opts.stopToken) break;
    }
    return { tokens: seq, newTokens: seq.slice(prompt.length), cacheBytes: cache?.bytes ?? 0 };
  } finally {
    cache?.dispose();
  }
}
