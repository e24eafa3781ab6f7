// The KV cache: per layer, the keys and values of every position seen so far, [B, kvHeads, length, headDim]. With
// GQA/MQA only the kvHeads are held, so the cache is heads/kvHeads smaller than MHA's. Tensors are replaced, never
// mutated (tfjs has no in-place update); truncation serves speculative decoding's rollback, reordering beam search.
import * as tf from "@tensorflow/tfjs-core";
import { headDim, type ModelConfig } from "../model/model-config.js";

const FLOAT32_BYTES = 4;

/** Bytes the cache holds per token of one sequence: K and V, every layer, kvHeads × headDim float32 each. */
export const kvCacheBytesPerToken = (c: ModelConfig): number => 2 * c.layers * c.kvHeads * headDim(c) * FLOAT32_BYTES;

export interface LayerKv {
  k: tf.Tensor4D;
  v: tf.Tensor4D;
}

export class KvCache {
  private layers: (LayerKv | undefined)[];
  private len = 0;

  constructor(
    readonly config: ModelConfig,
    /** Sequences in the batch (beam width, or 1). */
    readonly batch: number,
  ) {
    this.layers = Array.from({ length: config.layers }, () => undefined);
  }

  /** Positions cached (the next token's position). */
  get length(): number {
    return this.len;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.batch * this.len * kvCacheBytesPerToken(this.config);
  }

  layer(i: number): LayerKv | undefined {
    return this.layers[i];
  }

  /**
   * Installs the extended K/V of every layer (the old tensors are disposed) after a forward of `added` new positions.
   * The new tensors must be kept out of any enclosing tf.tidy by the caller.
   */
  commit(kv: readonly LayerKv[], added: number): void {
    if (kv.length !== this.layers.length) throw new RangeError(`cache of ${this.layers.length} layers given ${kv.length}`);
    for (const old of this.layers) if (old !== undefined) tf.dispose([old.k, old.v]);
    this.layers = [...kv];
    this.len += added;
  }

  /** Keeps the first `length` positions (speculative decoding drops rejected draft tokens). */
  truncate(length: number): void {
    if (length < 0 || length > this.len) throw new RangeError(`cannot truncate a cache of ${this.len} positions to ${length}`);
    if (length === this.len) return;
    this.layers = this.layers.map((l) => {
      if (l === undefined) return undefined;
      const kept = length === 0 ? undefined : { k: tf.slice(l.k, [0, 0, 0, 0], [-1, -1, length, -1]), v: tf.slice(l.v, [0, 0, 0, 0], [-1, -1, length, -1]) };
      tf.dispose([l.k, l.v]);
      return kept;
    });
    this.len = length;
  }

  /** Row b of the result is row rows[b] of this cache (beam search keeps the surviving beams' histories). */
  reorder(rows: readonly number[]): KvCache {
    const next = new KvCache(this.config, rows.length);
    const index = tf.tensor1d(Int32Array.from(rows), "int32");
    next.layers = this.layers.map((l) => (l === undefined ? undefined : { k: tf.gather(l.k, index) as tf.Tensor4D, v: tf.gather(l.v, index) as tf.Tensor4D }));
    next.len = this.len;
    index.dispose();
    return next;
  }

  dispose(): void {
    for (const l of this.layers) if (l !== undefined) tf.dispose([l.k, l.v]);
    this.layers = this.layers.map(() => undefined);
    this.len = 0;
  }
}
