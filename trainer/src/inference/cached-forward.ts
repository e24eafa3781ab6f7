// The decoder's forward over new tokens only, reading and extending a KV cache: positions offset … offset + n − 1
// attend to the cached keys and values plus their own. It computes the same function as model/gpt.ts forward
// (same weights, same layers, same mask semantics), so greedy decoding with and without the cache agrees.
import * as tf from "@tensorflow/tfjs-core";
import { MASKED } from "../model/attention-constants.js";
import { applyRotary, head, mlp, splitHeads } from "../model/gpt.js";
import type { BlockWeights, GptWeights } from "../model/gpt-weights.js";
import { geluTanh, layerNorm, linear, silu } from "../model/layers.js";
import { headDim, type ModelConfig } from "../model/model-config.js";
import { ContextOverflowError } from "./errors.js";
import type { KvCache, LayerKv } from "./kv-cache.js";

/** The inputs of a block's linear layers, for calibration (Wanda): `qkv` feeds q, k, v; `fc` feeds fc and gate. */
export type LinearSite = "qkv" | "o" | "fc" | "proj";
export type ObserveInput = (site: LinearSite, input: tf.Tensor) => void;

/** Additive mask [groups·n, offset + n]: query row r is position offset + (r mod n); keys after it are masked. */
export function cachedCausalMask(groups: number, n: number, offset: number): Float32Array {
  const keys = offset + n;
  const m = new Float32Array(groups * n * keys);
  for (let r = 0; r < groups * n; r++) {
    const q = offset + (r % n);
    for (let k = q + 1; k < keys; k++) m[r * keys + k] = MASKED;
  }
  return m;
}

/** Token embedding plus learned positions at offset … offset + n − 1: [B, n] → [B, n, d]. */
export function embedAt(config: ModelConfig, w: GptWeights, tokens: tf.Tensor2D, offset: number): tf.Tensor3D {
  const [batch, n] = tokens.shape;
  const x = tf.reshape(tf.gather(w.wte, tf.reshape(tokens, [-1])), [batch, n, config.dModel]);
  return (w.wpe === undefined ? x : tf.add(x, tf.slice(w.wpe, [offset, 0], [n, config.dModel]))) as tf.Tensor3D;
}

/**
 * This layer's K/V extended by n new positions, from the layer's normalised input x [B, n, d]. Early exit uses it alone
 * to fill the cache of the layers an exited token skips (from the exit layer's hidden state).
 */
export function extendKv(config: ModelConfig, b: BlockWeights, x: tf.Tensor3D, past: LayerKv | undefined, offset: number): LayerKv {
  const [batch, n] = x.shape;
  const hd = headDim(config);
  let k = splitHeads(linear(x, b.k, b.kb), batch, n, config.kvHeads, hd);
  const v = splitHeads(linear(x, b.v, b.vb), batch, n, config.kvHeads, hd);
  if (config.positionalEncoding === "rotary") k = applyRotary(k, n, hd, offset);
  return {
    k: (past === undefined ? k : tf.concat([past.k, k], 2)) as tf.Tensor4D,
    v: (past === undefined ? v : tf.concat([past.v, v], 2)) as tf.Tensor4D,
  };
}

/** Self-attention of n new positions against the cache; returns the output and this layer's extended K/V. */
export function attendCached(config: ModelConfig, b: BlockWeights, x: tf.Tensor3D, past: LayerKv | undefined, offset: number, observe?: ObserveInput): { out: tf.Tensor3D; kv: LayerKv } {
  const [batch, n] = x.shape;
  const hd = headDim(config);
  const groups = config.heads / config.kvHeads;
  observe?.("qkv", x);
  let q = splitHeads(linear(x, b.q, b.qb), batch, n, config.heads, hd);
  if (config.positionalEncoding === "rotary") q = applyRotary(q, n, hd, offset);
  const { k: kAll, v: vAll } = extendKv(config, b, x, past, offset);
  const keys = offset + n;
  const qGrouped = tf.reshape(q, [batch, config.kvHeads, groups * n, hd]);
  let scores = tf.mul(tf.matMul(qGrouped, kAll, false, true), 1 / Math.sqrt(hd));
  // One new position sees every key: no mask to add.
  if (n > 1) scores = tf.add(scores, tf.tensor2d(cachedCausalMask(groups, n, offset), [groups * n, keys]));
  const heads = tf.reshape(tf.matMul(tf.softmax(scores, -1), vAll), [batch, config.heads, n, hd]);
  const merged = tf.reshape(tf.transpose(heads, [0, 2, 1, 3]), [batch, n, config.heads * hd]);
  observe?.("o", merged);
  return { out: linear(merged, b.o, b.ob) as tf.Tensor3D, kv: { k: kAll, v: vAll } };
}

/** The MLP with its inputs observed (same function as model/gpt.ts mlp). */
function mlpObserved(config: ModelConfig, b: BlockWeights, x: tf.Tensor3D, observe: ObserveInput): tf.Tensor3D {
  observe("fc", x);
  const up = linear(x, b.fc, b.fcb);
  const act = config.activation === "swiglu" && b.gate !== undefined ? tf.mul(silu(linear(x, b.gate)), up) : geluTanh(up);
  observe("proj", act);
  return linear(act, b.proj, b.projb) as tf.Tensor3D;
}

/** One pre-LayerNorm block over the new positions (no dropout: inference). */
export function blockCached(config: ModelConfig, b: BlockWeights, x: tf.Tensor3D, past: LayerKv | undefined, offset: number, observe?: ObserveInput): { out: tf.Tensor3D; kv: LayerKv } {
  const { out: a, kv } = attendCached(config, b, layerNorm(x, b.ln1g, b.ln1b) as tf.Tensor3D, past, offset, observe);
  const h = tf.add(x, a) as tf.Tensor3D;
  const ln2 = layerNorm(h, b.ln2g, b.ln2b) as tf.Tensor3D;
  const m = observe === undefined ? mlp(config, b, ln2) : mlpObserved(config, b, ln2, observe);
  return { out: tf.add(h, m) as tf.Tensor3D, kv };
}

/** Throws ContextOverflowError unless `total` positions fit the model. */
export function checkContext(config: ModelConfig, total: number, what: string): void {
  if (total > config.contextLength) throw new ContextOverflowError(total, config.contextLength, what);
}

/**
 * tokens (B rows of n new tokens each, B = the cache's batch) → logits [B, n, vocab]; the cache grows by n.
 * The caller owns (and disposes) the logits.
 */
export function forwardCached(config: ModelConfig, w: GptWeights, tokens: readonly (readonly number[])[], cache: KvCache): tf.Tensor3D {
  const n = tokens[0]?.length ?? 0;
  if (tokens.length !== cache.batch || tokens.some((r) => r.length !== n) || n === 0) throw new RangeError(`forwardCached needs ${cache.batch} rows of equal, non-zero length`);
  const offset = cache.length;
  checkContext(config, offset + n, "the cached sequence");
  // tidy keeps what it returns: the logits, then K and V of every layer, flat.
  const kept = tf.tidy(() => {
    let x = embedAt(config, w, tf.tensor2d(tokens.flat(), [tokens.length, n], "int32"), offset);
    const kvs: tf.Tensor[] = [];
    w.blocks.forEach((b, i) => {
      const r = blockCached(config, b, x, cache.layer(i), offset);
      kvs.push(r.kv.k, r.kv.v);
      x = r.out;
    });
    return [head(config, w, x), ...kvs];
  });
  const layers: LayerKv[] = [];
  for (let i = 0; i < config.layers; i++) layers.push({ k: kept[1 + 2 * i] as tf.Tensor4D, v: kept[2 + 2 * i] as tf.Tensor4D });
  cache.commit(layers, n);
  return kept[0] as tf.Tensor3D;
}

/** Rows of the logits tensor [B, n, V] as plain arrays: out[b][j] is position j of sequence b. */
export async function logitRows(logits: tf.Tensor3D): Promise<Float32Array[][]> {
  const [batch, n, vocab] = logits.shape;
  const data = (await logits.data()) as Float32Array;
  return Array.from({ length: batch }, (_, b) => Array.from({ length: n }, (_, j) => data.slice((b * n + j) * vocab, (b * n + j + 1) * vocab)));
}
