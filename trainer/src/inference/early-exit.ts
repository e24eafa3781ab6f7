// Confidence-based early exit (experimental; CALM, Schuster et al. 2022, without its exit-aware training): each new
// token runs block by block, the shared final LayerNorm + LM head read its residual stream after every block from
// minLayers on, and it stops at the first confident one (early-exit-rule.ts). The KV cache keeps every layer whole by
// CALM's state propagation: the layers a token skipped get K/V computed from its exit layer's hidden state (only the
// k and v projections run there, not attention or the MLP), so later tokens that go deeper see a value at every
// position. Skipped layers therefore cost two small matmuls each instead of a block.
import * as tf from "@tensorflow/tfjs-core";
import { head } from "../model/gpt.js";
import { layerNorm } from "../model/layers.js";
import { blockCached, checkContext, embedAt, extendKv, forwardCached } from "./cached-forward.js";
import { checkPrompt, type DecodingModel } from "./generate.js";
import { KvCache, type LayerKv } from "./kv-cache.js";
import { checkEarlyExit, exitsAt, meanLayers, topProbability, type EarlyExitRule } from "./early-exit-rule.js";
import { DRAW, checkSampling, drawFrom, tokenDistribution, uniformAt, type SamplingOptions } from "./token-choice.js";

export interface ExitStep {
  /** Logits of the exit layer (the shared head on its residual stream). */
  logits: Float32Array;
  /** Blocks run (1 … layers). */
  layers: number;
  /** Top-1 probability at the exit layer. */
  confidence: number;
}

/**
 * Feeds one token at the cache's next position, block by block, exiting per the rule; the cache grows by one
 * position in every layer. minLayers must already be checked (checkEarlyExit).
 */
export async function exitStep(m: DecodingModel, cache: KvCache, token: number, threshold: number, minLayers: number): Promise<ExitStep> {
  const { config, weights: w } = m;
  const offset = cache.length;
  checkContext(config, offset + 1, "the cached sequence");
  let x = tf.tidy(() => embedAt(config, w, tf.tensor2d([token], [1, 1], "int32"), offset));
  const kvs: LayerKv[] = [];
  let committed = false;
  try {
    for (let i = 0; i < config.layers; i++) {
      const b = w.blocks[i] as (typeof w.blocks)[number];
      const [out, k, v] = tf.tidy(() => {
        const r = blockCached(config, b, x, cache.layer(i), offset);
        return [r.out, r.kv.k, r.kv.v];
      }) as [tf.Tensor3D, tf.Tensor4D, tf.Tensor4D];
      x.dispose();
      x = out;
      kvs.push({ k, v });
      const run = i + 1;
      if (run < minLayers && run < config.layers) continue;
      const t = tf.tidy(() => tf.reshape(head(config, w, x), [config.vocabSize]));
      const logits = (await t.data()) as Float32Array;
      t.dispose();
      const confidence = topProbability(logits);
      if (!exitsAt(run, confidence, config.layers, minLayers, threshold)) continue;
      // State propagation: the skipped layers' K/V for this position come from the exit layer's hidden state.
      for (let j = run; j < config.layers; j++) {
        const bj = w.blocks[j] as (typeof w.blocks)[number];
        const [k, v] = tf.tidy(() => {
          const kv = extendKv(config, bj, layerNorm(x, bj.ln1g, bj.ln1b) as tf.Tensor3D, cache.layer(j), offset);
          return [kv.k, kv.v];
        }) as [tf.Tensor4D, tf.Tensor4D];
        kvs.push({ k, v });
      }
      cache.commit(kvs, 1);
      committed = true;
      return { logits, layers: run, confidence };
    }
    throw new Error("unreachable: the last layer always exits");
  } finally {
    x.dispose();
    if (!committed) for (const kv of kvs) tf.dispose([kv.k, kv.v]);
  }
}

export interface EarlyExitOptions extends SamplingOptions, EarlyExitRule {
  maxNewTokens: number;
  seed: number;
  stopToken?: number;
  onToken?: (token: number, index: number) => void;
}

export interface EarlyExitResult {
  tokens: number[];
  newTokens: number[];
  /** Blocks run for each new token (the prompt's prefill, full depth, is not counted). */
  layersUsed: number[];
  meanLayers: number;
  cacheBytes: number;
}

/**
 * Generation with early exit. Tokens are chosen from the exit layer's logits exactly as generate() chooses them (same
 * sampling, same seeded draws), so a threshold above 1 reproduces generate() token for token.
 */
export async function earlyExitGenerate(m: DecodingModel, prompt: readonly number[], opts: EarlyExitOptions): Promise<EarlyExitResult> {
  checkSampling(opts);
  checkPrompt(m.config, prompt, opts.maxNewTokens);
  const minLayers = checkEarlyExit(m.config, opts);
  const seq = [...prompt];
  const layersUsed: number[] = [];
  const cache = new KvCache(m.config, 1);
  try {
    // The prompt but its last token runs full depth in one pass; every new token's prediction goes through exitStep.
    if (opts.maxNewTokens > 0 && prompt.length > 1) forwardCached(m.config, m.weights, [prompt.slice(0, -1)], cache).dispose();
    for (let n = 0; n < opts.maxNewTokens; n++) {
      const step = await exitStep(m, cache, seq[seq.length - 1] as number, opts.threshold, minLayers);
      const token = drawFrom(tokenDistribution(step.logits, opts), uniformAt(opts.seed, seq.length, DRAW.sample));
      layersUsed.push(step.layers);
      seq.push(token);
      opts.onToken?.(token, n);
      if (token === opts.stopToken) break;
    }
    return { tokens: seq, newTokens: seq.slice(prompt.length), layersUsed, meanLayers: meanLayers(layersUsed), cacheBytes: cache.bytes };
  } finally {
    cache.dispose();
  }
}

export interface TeacherForcedExits {
  /** Per predicted position j (of tokens[j + 1]): blocks run, −log p(tokens[j + 1]) and the argmax at the exit layer. */
  layers: number[];
  nll: number[];
  argmax: number[];
}

/**
 * Early exit scored on given text: every position is fed one at a time (each decides its own exit, the cache fills by
 * state propagation), and the exit layer's prediction of the next true token is scored. For perplexity and agreement
 * with full depth.
 */
export async function earlyExitTeacherForced(m: DecodingModel, tokens: ArrayLike<number>, rule: EarlyExitRule): Promise<TeacherForcedExits> {
  const minLayers = checkEarlyExit(m.config, rule);
  checkContext(m.config, Math.max(0, tokens.length - 1), "the scored text");
  const out: TeacherForcedExits = { layers: [], nll: [], argmax: [] };
  const cache = new KvCache(m.config, 1);
  try {
    for (let j = 0; j + 1 < tokens.length; j++) {
      const step = await exitStep(m, cache, tokens[j] as number, rule.threshold, minLayers);
      const row = step.logits;
      let best = 0;
      let max = -Infinity;
      for (let i = 0; i < row.length; i++) if ((row[i] as number) > max) [max, best] = [row[i] as number, i];
      let sum = 0;
      for (let i = 0; i < row.length; i++) sum += Math.exp((row[i] as number) - max);
      out.layers.push(step.layers);
      out.nll.push(max + Math.log(sum) - (row[tokens[j + 1] as number] as number));
      out.argmax.push(best);
    }
    return out;
  } finally {
    cache.dispose();
  }
}
