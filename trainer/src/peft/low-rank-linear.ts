// A linear layer with an optional low-rank path: y = x·W + b + scale·(x·Aᵀ)·Bᵀ, A [r, in], B [out, r]. LoRA adds
// the path to a frozen W; a factorized layer (truncated SVD) has the path alone (`replacesBase`). Without a path the
// result is exactly the plain linear, op for op, so a model without adapters computes bitwise what it did before.
import * as tf from "@tensorflow/tfjs-core";
import { hashWords } from "@gantry/dataloader";
import type { DropoutContext } from "../model/counter-seed.js";
import { dropout, linear } from "../model/layers.js";

/** The linears of a block that can carry a low-rank path. `gate` exists only in SwiGLU models. */
export const LINEAR_SITES = ["q", "k", "v", "o", "up", "gate", "down"] as const;
export type LinearSite = (typeof LINEAR_SITES)[number];

/** The base parameter (paramLayout name after `h.<i>.`) each site projects with. */
export const SITE_PARAM: Record<LinearSite, string> = {
  q: "attn.q",
  k: "attn.k",
  v: "attn.v",
  o: "attn.o",
  up: "mlp.fc",
  gate: "mlp.gate",
  down: "mlp.proj",
};

export interface LowRankWeights {
  /** [r, in]. */
  a: tf.Tensor;
  /** [out, r]. */
  b: tf.Tensor;
  /** Multiplies the path: alpha / r for LoRA, 1 for factors. */
  scale: number;
  /** Dropout rate on the path's input (LoRA dropout); drawn only when the forward has a dropout context. */
  dropout?: number;
  /** The path is the whole layer: W is not read (a factorized layer). */
  replacesBase?: boolean;
}

// Site codes for the dropout hash, disjoint from the model's own sites (1-4 in counter-seed.ts).
const SITE_CODE: Record<LinearSite, number> = { q: 0x11, k: 0x12, v: 0x13, o: 0x14, up: 0x15, gate: 0x16, down: 0x17 };

/** Seed of the LoRA dropout mask of `site` in `layer`: hash(baseSeed, step, rank, micro, layer, site). */
export function lowRankDropoutSeed(ctx: DropoutContext, layer: number, site: LinearSite): number {
  return hashWords(ctx.baseSeed, ctx.step, ctx.rank, ctx.micro, layer, SITE_CODE[site]);
}

/** x [..., in] → [..., out]; `seed` is the path's dropout seed (undefined: no dropout). */
export function lowRankLinear(x: tf.Tensor, w: tf.Tensor | undefined, bias: tf.Tensor | undefined, path: LowRankWeights | undefined, seed?: number): tf.Tensor {
  if (path === undefined) {
    if (w === undefined) throw new RangeError("a linear without a low-rank path needs its weight matrix");
    return linear(x, w, bias);
  }
  const inDim = x.shape[x.shape.length - 1] ?? 0;
  const outDim = path.b.shape[0] ?? 0;
  const flat = tf.reshape(x, [-1, inDim]);
  const input = dropout(flat, path.dropout ?? 0, seed);
  const low = tf.mul(tf.matMul(tf.matMul(input, path.a, false, true), path.b, false, true), path.scale);
  let y = path.replacesBase === true || w === undefined ? low : tf.add(tf.matMul(flat, w), low);
  if (bias !== undefined) y = tf.add(y, bias);
  return tf.reshape(y, [...x.shape.slice(0, -1), outDim]);
}
