// A GPT decoder, read top to bottom like nanoGPT's model.py: embed, N pre-LayerNorm blocks (causal self-attention,
// then an MLP), a final LayerNorm, an LM head. Every function is pure in (weights, inputs): no variables, no captured
// tensors, no RNG state, so a block can be re-run for recomputation and differentiated on its own with tf.grads.
import * as tf from "@tensorflow/tfjs-core";
import { rotaryTables } from "./attention-constants.js";
import { attentionCore, recomputedAttentionCore } from "./attention-core.js";
import { dropoutSeed, type DropoutContext } from "./counter-seed.js";
import type { BlockWeights, GptWeights } from "./gpt-weights.js";
import { dropout, geluTanh, layerNorm, silu } from "./layers.js";
import { headDim, type ModelConfig } from "./model-config.js";
import { bottleneckAdapter } from "../peft/bottleneck-adapter.js";
import { lowRankDropoutSeed, lowRankLinear, type LinearSite } from "../peft/low-rank-linear.js";

export interface ForwardOptions {
  /** Set when training with dropout > 0: which step, rank and micro-batch this pass is, for the dropout seeds. */
  dropout?: DropoutContext;
  /** Selective activation checkpointing: keep q, k, v and recompute softmax(QKᵀ)V in backward. */
  recomputeAttention?: boolean;
}

const seedFor = (opts: ForwardOptions, layer: number, site: Parameters<typeof dropoutSeed>[2]): number | undefined =>
  opts.dropout === undefined ? undefined : dropoutSeed(opts.dropout, layer, site);

/** The block's linear at `site`, with its low-rank path if it has one (else exactly linear(x, W, b)). */
export function blockLinear(b: BlockWeights, site: LinearSite, w: tf.Tensor | undefined, bias: tf.Tensor | undefined, x: tf.Tensor, layer: number, opts: ForwardOptions): tf.Tensor {
  const path = b.lowRank?.[site];
  if (path === undefined) return lowRankLinear(x, w, bias, undefined);
  const seed = opts.dropout !== undefined && (path.dropout ?? 0) > 0 ? lowRankDropoutSeed(opts.dropout, layer, site) : undefined;
  return lowRankLinear(x, w, bias, path, seed);
}

/** tokens [B, T] int32 → residual stream [B, T, d]: token embedding plus learned positions (rotary adds none here). */
export function embed(config: ModelConfig, w: GptWeights, tokens: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor3D {
  const [batch, seqLen] = tokens.shape;
  let x = tf.reshape(tf.gather(w.wte, tf.reshape(tokens, [-1])), [batch, seqLen, config.dModel]);
  if (w.wpe !== undefined) x = tf.add(x, tf.slice(w.wpe, [0, 0], [seqLen, config.dModel]));
  return dropout(x, config.dropout, seedFor(opts, -1, "embedding")) as tf.Tensor3D;
}

/** Rotate-half RoPE on x [B, heads, T, hd] at positions offset … offset + T − 1 (a KV-cached step passes its offset). */
export function applyRotary(x: tf.Tensor, seqLen: number, hd: number, offset = 0): tf.Tensor {
  const tables = rotaryTables(offset + seqLen, hd);
  const cos = offset === 0 ? tables.cos : tables.cos.subarray(offset * hd);
  const sin = offset === 0 ? tables.sin : tables.sin.subarray(offset * hd);
  const half = hd / 2;
  const [x1, x2] = tf.split(x, [half, half], -1) as [tf.Tensor, tf.Tensor];
  const rotated = tf.concat([tf.neg(x2), x1], -1);
  return tf.add(tf.mul(x, tf.tensor2d(cos, [seqLen, hd])), tf.mul(rotated, tf.tensor2d(sin, [seqLen, hd])));
}

/** [B, T, n·hd] → [B, n, T, hd]. */
export const splitHeads = (x: tf.Tensor, batch: number, seqLen: number, n: number, hd: number): tf.Tensor =>
  tf.transpose(tf.reshape(x, [batch, seqLen, n, hd]), [0, 2, 1, 3]);

/**
 * Causal self-attention with kvHeads ≤ heads (MHA, GQA, MQA). Query head h reads KV head floor(h / G), G = heads /
 * kvHeads: the G query heads of a group are stacked along the time axis, so one batched matmul serves them all and
 * K and V are never repeated in memory.
 */
export function causalSelfAttention(config: ModelConfig, layer: number, b: BlockWeights, x: tf.Tensor3D, opts: ForwardOptions): tf.Tensor3D {
  const [batch, seqLen] = x.shape;
  const hd = headDim(config);
  const groups = config.heads / config.kvHeads;
  let q = splitHeads(blockLinear(b, "q", b.q, b.qb, x, layer, opts), batch, seqLen, config.heads, hd);
  let k = splitHeads(blockLinear(b, "k", b.k, b.kb, x, layer, opts), batch, seqLen, config.kvHeads, hd);
  const v = splitHeads(blockLinear(b, "v", b.v, b.vb, x, layer, opts), batch, seqLen, config.kvHeads, hd);
  if (config.positionalEncoding === "rotary") {
    q = applyRotary(q, seqLen, hd);
    k = applyRotary(k, seqLen, hd);
  }
  const qGrouped = tf.reshape(q, [batch, config.kvHeads, groups * seqLen, hd]);
  const core = opts.recomputeAttention === true ? recomputedAttentionCore : attentionCore;
  const heads = tf.reshape(core(qGrouped, k, v, groups, config.dropout, seedFor(opts, layer, "attention")), [batch, config.heads, seqLen, hd]);
  const merged = tf.reshape(tf.transpose(heads, [0, 2, 1, 3]), [batch, seqLen, config.heads * hd]);
  return blockLinear(b, "o", b.o, b.ob, merged, layer, opts) as tf.Tensor3D;
}

/** GELU MLP, or SwiGLU: silu(x·gate) ⊙ (x·fc + fc_b), then the projection back to d. */
export function mlp(config: ModelConfig, b: BlockWeights, x: tf.Tensor3D, layer = 0, opts: ForwardOptions = {}): tf.Tensor3D {
  const up = blockLinear(b, "up", b.fc, b.fcb, x, layer, opts);
  const act = config.activation === "swiglu" && b.gate !== undefined ? tf.mul(silu(blockLinear(b, "gate", b.gate, undefined, x, layer, opts)), up) : geluTanh(up);
  return blockLinear(b, "down", b.proj, b.projb, act, layer, opts) as tf.Tensor3D;
}

/** One pre-LayerNorm block: x + attn(ln_1(x)), then + mlp(ln_2(x)); adapters, when present, on each sublayer's output. */
export function block(config: ModelConfig, layer: number, b: BlockWeights, x: tf.Tensor3D, opts: ForwardOptions = {}): tf.Tensor3D {
  let a = causalSelfAttention(config, layer, b, layerNorm(x, b.ln1g, b.ln1b) as tf.Tensor3D, opts);
  if (b.adapterAttn !== undefined) a = bottleneckAdapter(a, b.adapterAttn) as tf.Tensor3D;
  const h = tf.add(x, dropout(a, config.dropout, seedFor(opts, layer, "attentionResidual"))) as tf.Tensor3D;
  let m = mlp(config, b, layerNorm(h, b.ln2g, b.ln2b) as tf.Tensor3D, layer, opts);
  if (b.adapterMlp !== undefined) m = bottleneckAdapter(m, b.adapterMlp) as tf.Tensor3D;
  return tf.add(h, dropout(m, config.dropout, seedFor(opts, layer, "mlpResidual"))) as tf.Tensor3D;
}

/** Final LayerNorm and LM head (the token embedding transposed when tied): [B, T, d] → logits [B, T, vocab]. */
export function head(config: ModelConfig, w: GptWeights, x: tf.Tensor3D): tf.Tensor3D {
  const [batch, seqLen] = x.shape;
  const flat = tf.reshape(layerNorm(x, w.lnFg, w.lnFb), [-1, config.dModel]);
  const logits = w.lmHead === undefined ? tf.matMul(flat, w.wte, false, true) : tf.matMul(flat, w.lmHead);
  return tf.reshape(logits, [batch, seqLen, config.vocabSize]);
}

/** tokens [B, T] → logits [B, T, vocab]. */
export function forward(config: ModelConfig, w: GptWeights, tokens: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor3D {
  let x = embed(config, w, tokens, opts);
  w.blocks.forEach((b, layer) => {
    x = block(config, layer, b, x, opts);
  });
  return head(config, w, x);
}

/**
 * Mean cross-entropy of logits [..., vocab] against int32 targets [...] (natural log). The one-hot is made int32 and
 * cast: wasm's OneHot ignores the dtype argument and writes int32 bits into a float32 tensor.
 */
export function crossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  const vocab = logits.shape[logits.shape.length - 1] ?? 0;
  const logp = tf.logSoftmax(tf.reshape(logits, [-1, vocab]), -1);
  const picked = tf.sum(tf.mul(logp, tf.cast(tf.oneHot(tf.reshape(targets, [-1]), vocab), "float32")), -1);
  return tf.neg(tf.mean(picked)) as tf.Scalar;
}
