// Megatron-style tensor parallelism for one rank of a tensor group: a block, the vocabulary-parallel embedding and the
// vocabulary-parallel LM head with its cross-entropy, each as a forward and a manual backward.
//
// The conjugate operators are where the group talks. g (after a row-parallel linear, and after the embedding lookup)
// all-reduces in forward and is the identity in backward; f (before a column-parallel linear) is the identity in
// forward and all-reduces the input gradient in backward. tfjs gradients are synchronous and a tape cannot outlive
// the call that built it, so f and g cannot be tfjs custom gradients around an await: they are the seams of this
// file's forward/backward pairs instead, and each sync piece between them is re-run under tf.grads with its upstream
// gradient. One all-reduce per sub-layer in forward (g) and one in backward (f), as in Megatron.
import * as tf from "@tensorflow/tfjs-core";
import type { Collective } from "../collective/collective.js";
import { dropoutSeed } from "../model/counter-seed.js";
import { causalSelfAttention, mlp, type ForwardOptions } from "../model/gpt.js";
import type { BlockWeights } from "../model/gpt-weights.js";
import { dropout, layerNorm } from "../model/layers.js";
import { headDim, type ModelConfig } from "../model/model-config.js";
import { toBlockWeights } from "../train/block-backward.js";
import type { StageShard } from "./partition.js";

/** A tensor rank's view of the model: the full config, its shard, and the config its local heads form. */
export interface TensorView {
  config: ModelConfig;
  shard: StageShard;
  /** heads and kvHeads of this rank (K/V expanded to one per local query head when replicated); dModel = local heads × head width. */
  local: ModelConfig;
  /** K/V replicated: the columns of K and V each local query head reads. */
  kvColumns: Int32Array | undefined;
}

export function tensorView(config: ModelConfig, shard: StageShard): TensorView {
  const hd = headDim(config);
  const hl = shard.heads[1] - shard.heads[0];
  const local: ModelConfig = { ...config, heads: hl, kvHeads: shard.kvHeads === undefined ? hl : shard.kvHeads[1] - shard.kvHeads[0], dModel: hl * hd };
  let kvColumns: Int32Array | undefined;
  if (shard.kvHeads === undefined) {
    const group = config.heads / config.kvHeads;
    kvColumns = new Int32Array(hl * hd);
    for (let j = 0; j < hl; j++) {
      const kv = Math.floor((shard.heads[0] + j) / group);
      for (let c = 0; c < hd; c++) kvColumns[j * hd + c] = kv * hd + c;
    }
  }
  return { config, shard, local, kvColumns };
}

/**
 * Sums tensors over the group through the host (the transport speaks Float32Arrays). Takes ownership: the inputs are
 * disposed and new tensors returned; a group of one returns its inputs.
 */
export async function allReduceTensors(group: Collective, ts: readonly tf.Tensor[]): Promise<tf.Tensor[]> {
  if (group.worldSize === 1) return [...ts];
  const parts = (await Promise.all(ts.map((t) => t.data<"float32">()))).map((d) => Float32Array.from(d as Float32Array));
  const shapes = ts.map((t) => t.shape);
  tf.dispose([...ts]);
  await group.allReduceSum(parts);
  return parts.map((p, i) => tf.tensor(p, shapes[i], "float32"));
}

// Positions in a block's weight list (paramLayout order; gate only for SwiGLU).
const ATTN = [2, 3, 4, 5, 6, 7, 8];
const OB = 9;
const mlpIndices = (c: ModelConfig): number[] => (c.activation === "swiglu" ? [12, 13, 14, 15] : [12, 13, 14]);
const projBias = (c: ModelConfig): number => (c.activation === "swiglu" ? 16 : 15);

const replace = (list: readonly tf.Tensor[], at: readonly number[], values: readonly tf.Tensor[]): tf.Tensor[] => {
  const out = [...list];
  at.forEach((i, j) => (out[i] = values[j] as tf.Tensor));
  return out;
};

/** The block's weights for a partial sub-layer: row-parallel biases held back (added once, after g), K/V expanded when replicated. */
function partialBlock(view: TensorView, list: readonly tf.Tensor[]): BlockWeights {
  const b = toBlockWeights(view.config, list);
  // blockLinear adds no bias when it is absent; BlockWeights types every bias as present for the whole model.
  const out: Omit<BlockWeights, "ob" | "projb"> & Partial<Pick<BlockWeights, "ob" | "projb">> = { ...b };
  delete out.ob;
  delete out.projb;
  const cols = view.kvColumns;
  if (cols !== undefined) {
    const idx = tf.tensor1d(cols, "int32");
    out.k = tf.gather(b.k, idx, 1);
    out.kb = tf.gather(b.kb, idx, 0);
    out.v = tf.gather(b.v, idx, 1);
    out.vb = tf.gather(b.vb, idx, 0);
  }
  return out as BlockWeights;
}

/**
 * The attention-probability mask covers this rank's heads only, so its seed takes the tensor rank too: otherwise head
 * j of every tensor rank would drop the same positions. (The residual masks must match across the group: they don't.)
 */
function headDropout(view: TensorView, opts: ForwardOptions): ForwardOptions {
  const ctx = opts.dropout;
  const { tp, tpRank } = view.shard.place;
  return ctx === undefined || tp === 1 ? opts : { ...opts, dropout: { ...ctx, rank: ctx.rank * tp + tpRank } };
}

const attentionPartial = (view: TensorView, layer: number, w: readonly tf.Tensor[], u: tf.Tensor3D, opts: ForwardOptions): tf.Tensor3D =>
  causalSelfAttention(view.local, layer, partialBlock(view, w), u, headDropout(view, opts));

const mlpPartial = (view: TensorView, layer: number, w: readonly tf.Tensor[], u: tf.Tensor3D, opts: ForwardOptions): tf.Tensor3D =>
  mlp(view.local, partialBlock(view, w), u, layer, opts);

const seed = (opts: ForwardOptions, layer: number, site: "attentionResidual" | "mlpResidual" | "embedding"): number | undefined =>
  opts.dropout === undefined ? undefined : dropoutSeed(opts.dropout, layer, site);

/** x + dropout(s + bias): the residual add after a reduced sub-layer (the bias is the row-parallel linear's). */
const residual = (rate: number, s: number | undefined) => (x: tf.Tensor, sum: tf.Tensor, bias: tf.Tensor): tf.Tensor => tf.add(x, dropout(tf.add(sum, bias), rate, s));

/** What a block's backward needs: its input, and (unless recomputed) the reduced sub-layer outputs and the mid stream. */
export interface BlockActs {
  x: tf.Tensor3D;
  a?: tf.Tensor3D;
  h?: tf.Tensor3D;
  m?: tf.Tensor3D;
}

/**
 * Block `layer` forward. keep = false (full activation checkpointing) keeps only x; the backward then re-runs the
 * forward, all-reduces included, as Megatron's full recomputation does.
 */
export async function blockForward(view: TensorView, group: Collective, layer: number, w: readonly tf.Tensor[], x: tf.Tensor3D, opts: ForwardOptions, keep: boolean): Promise<{ y: tf.Tensor3D; acts: BlockActs }> {
  const rate = view.config.dropout;
  const p = tf.tidy(() => attentionPartial(view, layer, w, layerNorm(x, w[0] as tf.Tensor, w[1] as tf.Tensor) as tf.Tensor3D, opts));
  const [a] = (await allReduceTensors(group, [p])) as [tf.Tensor3D]; // g
  const h = tf.tidy(() => residual(rate, seed(opts, layer, "attentionResidual"))(x, a, w[OB] as tf.Tensor)) as tf.Tensor3D;
  const p2 = tf.tidy(() => mlpPartial(view, layer, w, layerNorm(h, w[10] as tf.Tensor, w[11] as tf.Tensor) as tf.Tensor3D, opts));
  const [m] = (await allReduceTensors(group, [p2])) as [tf.Tensor3D]; // g
  const y = tf.tidy(() => residual(rate, seed(opts, layer, "mlpResidual"))(h, m, w[projBias(view.config)] as tf.Tensor)) as tf.Tensor3D;
  if (!keep) {
    tf.dispose([a, h, m]);
    return { y, acts: { x } };
  }
  return { y, acts: { x, a, h, m } };
}

/** Block `layer` backward for upstream dy: [dx, weight gradients in list order]. Frees acts' a, h, m (not x) and dy. */
export async function blockBackward(view: TensorView, group: Collective, layer: number, w: readonly tf.Tensor[], acts: BlockActs, dy: tf.Tensor3D, opts: ForwardOptions): Promise<{ dx: tf.Tensor3D; dw: tf.Tensor[] }> {
  const c = view.config;
  let { a, h, m } = acts;
  if (a === undefined || h === undefined || m === undefined) {
    const again = await blockForward(view, group, layer, w, acts.x, opts, true);
    tf.dispose(again.y);
    ({ a, h, m } = again.acts as Required<BlockActs>);
  }
  const x = acts.x;
  const at = (i: number) => w[i] as tf.Tensor;
  const mlpAt = mlpIndices(c);
  const pb = projBias(c);
  const [dh1, dm, dpb] = tf.grads(residual(c.dropout, seed(opts, layer, "mlpResidual")))([h, m, at(pb)], dy) as [tf.Tensor, tf.Tensor, tf.Tensor];
  const [du2Partial, ...dMlp] = tf.tidy(() => {
    const u2 = layerNorm(h, at(10), at(11));
    return tf.grads((u: tf.Tensor, ...ws: tf.Tensor[]) => mlpPartial(view, layer, replace(w, mlpAt, ws), u as tf.Tensor3D, opts))([u2, ...mlpAt.map(at)], dm);
  }) as [tf.Tensor, ...tf.Tensor[]];
  const [du2] = (await allReduceTensors(group, [du2Partial])) as [tf.Tensor]; // f
  const [dh2, dln2g, dln2b] = tf.grads((hh: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => layerNorm(hh, g, b))([h, at(10), at(11)], du2) as [tf.Tensor, tf.Tensor, tf.Tensor];
  const dh = tf.add(dh1, dh2);
  tf.dispose([dy, dm, dh1, dh2, du2, h, m]);
  const [dx1, da, dob] = tf.grads(residual(c.dropout, seed(opts, layer, "attentionResidual")))([x, a, at(OB)], dh) as [tf.Tensor, tf.Tensor, tf.Tensor];
  const [duPartial, ...dAttn] = tf.tidy(() => {
    const u = layerNorm(x, at(0), at(1));
    return tf.grads((uu: tf.Tensor, ...ws: tf.Tensor[]) => attentionPartial(view, layer, replace(w, ATTN, ws), uu as tf.Tensor3D, opts))([u, ...ATTN.map(at)], da);
  }) as [tf.Tensor, ...tf.Tensor[]];
  tf.dispose([dh, da, a]);
  // f, with the replicated K/V's partial gradients riding in the same all-reduce.
  const replicated = view.kvColumns === undefined ? [] : [2, 3, 4, 5].map((j) => dAttn[j] as tf.Tensor);
  const [du, ...kv] = (await allReduceTensors(group, [duPartial, ...replicated])) as [tf.Tensor, ...tf.Tensor[]];
  if (replicated.length > 0) [2, 3, 4, 5].forEach((j, i) => (dAttn[j] = kv[i] as tf.Tensor));
  const [dx2, dln1g, dln1b] = tf.grads((xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => layerNorm(xx, g, b))([x, at(0), at(1)], du) as [tf.Tensor, tf.Tensor, tf.Tensor];
  const dx = tf.add(dx1, dx2) as tf.Tensor3D;
  tf.dispose([du, dx1, dx2]);
  const dw = [dln1g, dln1b, ...dAttn, dob, dln2g, dln2b, ...dMlp, dpb];
  return { dx, dw };
}

/** The local vocabulary rows' share of the embedding: rows outside [v0, v1) contribute zeros. */
function vocabLookup(wte: tf.Tensor, tokens: tf.Tensor2D, v0: number, v1: number, d: number): tf.Tensor3D {
  const [batch, seqLen] = tokens.shape;
  const ids = tf.sub(tokens, tf.scalar(v0, "int32"));
  const inside = tf.logicalAnd(tf.greaterEqual(ids, tf.scalar(0, "int32")), tf.less(ids, tf.scalar(v1 - v0, "int32")));
  const rows = tf.gather(wte, tf.reshape(tf.where(inside, ids, tf.zerosLike(ids)), [-1]));
  return tf.reshape(tf.mul(rows, tf.reshape(tf.cast(inside, "float32"), [-1, 1])), [batch, seqLen, d]);
}

/** Positions and dropout after the reduced lookup, as gpt.ts's embed does after its gather. */
function embedRest(c: ModelConfig, e: tf.Tensor, wpe: tf.Tensor | undefined, opts: ForwardOptions): tf.Tensor {
  const seqLen = e.shape[1] ?? 0;
  const x = wpe === undefined ? e : tf.add(e, tf.slice(wpe, [0, 0], [seqLen, c.dModel]));
  return dropout(x, c.dropout, seed(opts, -1, "embedding"));
}

/** Vocabulary-parallel embedding: local lookup, g, positions. `w` is [wte rows of this rank, wpe?]. Returns x0 and the reduced lookup. */
export async function embedForward(view: TensorView, group: Collective, w: readonly tf.Tensor[], tokens: tf.Tensor2D, opts: ForwardOptions): Promise<{ x: tf.Tensor3D; e: tf.Tensor3D }> {
  const [v0, v1] = view.shard.vocab;
  const p = tf.tidy(() => vocabLookup(w[0] as tf.Tensor, tokens, v0, v1, view.config.dModel));
  const [e] = (await allReduceTensors(group, [p])) as [tf.Tensor3D]; // g
  const x = tf.tidy(() => embedRest(view.config, e, w[1], opts)) as tf.Tensor3D;
  return { x, e };
}

/** Gradients of [wte rows, wpe?] for upstream dx (g's backward is the identity). Frees dx. */
export function embedBackward(view: TensorView, w: readonly tf.Tensor[], tokens: tf.Tensor2D, e: tf.Tensor3D, dx: tf.Tensor3D, opts: ForwardOptions): tf.Tensor[] {
  const [v0, v1] = view.shard.vocab;
  const wpe = w[1];
  let de: tf.Tensor;
  let dwpe: tf.Tensor | undefined;
  if (wpe !== undefined) [de, dwpe] = tf.grads((ee: tf.Tensor, pp: tf.Tensor) => embedRest(view.config, ee, pp, opts))([e, wpe], dx) as [tf.Tensor, tf.Tensor];
  // Rotary without dropout: x0 is the lookup itself (tf.grads refuses an identity).
  else if (view.config.dropout > 0 && opts.dropout !== undefined) de = tf.grads((ee: tf.Tensor) => embedRest(view.config, ee, undefined, opts))([e], dx)[0] as tf.Tensor;
  else de = tf.clone(dx);
  const [dwte] = tf.grads((ww: tf.Tensor) => vocabLookup(ww, tokens, v0, v1, view.config.dModel))([w[0] as tf.Tensor], de) as [tf.Tensor];
  tf.dispose([dx, de]);
  return dwpe === undefined ? [dwte] : [dwte, dwpe];
}

export interface HeadResult {
  /** Mean cross-entropy of the micro-batch (identical on every rank of the group). */
  loss: number;
  dx?: tf.Tensor3D;
  /** Gradients of [ln_f.g, ln_f.b, head matrix]. */
  dw?: tf.Tensor[];
}

/** This rank's logits [N, vocab rows]: the tied embedding rows transposed, or the LM head's columns. */
function localLogits(c: ModelConfig, u: tf.Tensor, head: tf.Tensor): tf.Tensor {
  const flat = tf.reshape(u, [-1, c.dModel]);
  return c.tieEmbeddings ? tf.matMul(flat, head, false, true) : tf.matMul(flat, head);
}

/**
 * Final LayerNorm, vocabulary-parallel LM head and parallel cross-entropy: each rank sends only its per-token max,
 * sum of exponentials and target logit (3 floats a token), never its logits, and the softmax gradient is formed
 * locally: (exp(l − M) / S − onehot) / N. `w` is [ln_f.g, ln_f.b, head]. Frees x when grads are asked for.
 */
export async function headLoss(view: TensorView, group: Collective, w: readonly tf.Tensor[], x: tf.Tensor3D, targets: tf.Tensor2D, grads: boolean): Promise<HeadResult> {
  const c = view.config;
  const [v0, v1] = view.shard.vocab;
  const width = v1 - v0;
  const [g, b, head] = w as [tf.Tensor, tf.Tensor, tf.Tensor];
  const { logits, onehot, stats } = tf.tidy(() => {
    const l = localLogits(c, layerNorm(x, g, b), head);
    const ids = tf.sub(tf.reshape(targets, [-1]), tf.scalar(v0, "int32"));
    const inside = tf.logicalAnd(tf.greaterEqual(ids, tf.scalar(0, "int32")), tf.less(ids, tf.scalar(width, "int32")));
    // int32 one-hot, then cast (wasm's OneHot ignores its dtype argument), masked to the rows this rank holds.
    const oh = tf.mul(tf.cast(tf.oneHot(tf.where(inside, ids, tf.zerosLike(ids)), width), "float32"), tf.reshape(tf.cast(inside, "float32"), [-1, 1]));
    const max = tf.max(l, -1);
    const sum = tf.sum(tf.exp(tf.sub(l, tf.reshape(max, [-1, 1]))), -1);
    const picked = tf.sum(tf.mul(l, oh), -1);
    return { logits: l, onehot: oh, stats: tf.concat([max, sum, picked]) };
  });
  const mine = Float32Array.from((await stats.data<"float32">()) as Float32Array);
  tf.dispose(stats);
  const all = group.worldSize === 1 ? [mine] : await group.allGather(mine);
  const n = mine.length / 3;
  const bigM = new Float32Array(n);
  const bigS = new Float32Array(n);
  let lossSum = 0;
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (const part of all) mx = Math.max(mx, part[i] as number);
    let s = 0;
    let t = 0;
    for (const part of all) {
      s += (part[n + i] as number) * Math.exp((part[i] as number) - mx);
      t += part[2 * n + i] as number;
    }
    bigM[i] = mx;
    bigS[i] = s;
    lossSum += Math.log(s) + mx - t;
  }
  const loss = lossSum / n;
  if (!grads) {
    tf.dispose([logits, onehot]);
    return { loss };
  }
  const dLogits = tf.tidy(() => tf.div(tf.sub(tf.div(tf.exp(tf.sub(logits, tf.tensor2d(bigM, [n, 1]))), tf.tensor2d(bigS, [n, 1])), onehot), n));
  tf.dispose([logits, onehot]);
  const [duPartial, dHead] = tf.tidy(() => {
    const u = layerNorm(x, g, b);
    return tf.grads((uu: tf.Tensor, hh: tf.Tensor) => localLogits(c, uu, hh))([u, head], dLogits);
  }) as [tf.Tensor, tf.Tensor];
  tf.dispose(dLogits);
  const [du] = (await allReduceTensors(group, [duPartial])) as [tf.Tensor]; // f
  const [dx, dg, db] = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => layerNorm(xx, gg, bb))([x, g, b], du) as [tf.Tensor3D, tf.Tensor, tf.Tensor];
  tf.dispose([du, x]);
  return { loss, dx, dw: [dg, db, dHead] };
}
