// ZeRO-3: the parameters live as this rank's shard (1-D pieces of the owned range). A micro-batch gathers each piece
// of the model (embedding, block i, final LayerNorm and head) just before it runs and frees it after; the forward
// keeps only block inputs; the backward re-gathers each block, recomputes it under tf.grads with the upstream
// gradient, and reduce-scatters its gradients at once, so a rank holds one gathered block and its own gradient shard.
import * as tf from "@tensorflow/tfjs-core";
import type { Range, ShardCollective } from "../collective/collective.js";
import type { ForwardOptions } from "../model/gpt.js";
import type { ModelConfig } from "../model/model-config.js";
import { blockForward, blockGrads, embedForward, embedGrads, headGrads, modelPieces, tiedWteGrad, type ModelPieces } from "../train/block-backward.js";
import type { MicroBatch } from "../train/micro-batches.js";
import { batchTensors } from "../train/objective.js";
import { intersect, segmentsIn, shift, type FlatLayout, type ShardSegment } from "./shard-layout.js";

/** Bytes moved by this rank's collectives of one kind, for the benchmark. */
export interface TrafficCounter {
  gathered: number;
  reduced: number;
}

export class Zero3Model {
  readonly pieces: ModelPieces;
  readonly segments: ShardSegment[];
  /** Host copy of the owned parameters (the gathers send from it). */
  private host: Float32Array;
  /** The owned pieces as tensors: what AdamW updates. */
  private shard: tf.Tensor[];

  constructor(
    readonly config: ModelConfig,
    readonly layout: FlatLayout,
    readonly owned: readonly Range[],
    readonly collective: ShardCollective,
    full: Float32Array,
    readonly traffic: TrafficCounter = { gathered: 0, reduced: 0 },
  ) {
    this.pieces = modelPieces(config);
    this.segments = segmentsIn(layout, this.own);
    this.host = new Float32Array(0);
    this.shard = [];
    this.setShard(full, 0);
  }

  get own(): Range {
    return this.owned[this.collective.rank] as Range;
  }

  get tensors(): readonly tf.Tensor[] {
    return this.shard;
  }

  get bytes(): number {
    return 4 * this.segments.reduce((n, s) => n + s.length, 0);
  }

  /** Takes the owned pieces from `values`, which holds slots [base, base + values.length). */
  setShard(values: Float32Array, base: number): void {
    tf.dispose(this.shard);
    this.host = new Float32Array(this.own[1] - this.own[0]);
    this.shard = this.segments.map((s) => {
      const piece = values.slice(s.flatStart - base, s.flatStart - base + s.length);
      this.host.set(piece, s.flatStart - this.own[0]);
      return tf.tensor1d(piece, "float32");
    });
  }

  /** Replaces the owned pieces with AdamW's output (disposing the old ones) and refreshes the host copy. */
  async replace(next: tf.Tensor[]): Promise<void> {
    const data = await Promise.all(next.map((t) => t.data<"float32">()));
    this.segments.forEach((s, i) => this.host.set(data[i] as Float32Array, s.flatStart - this.own[0]));
    tf.dispose(this.shard);
    this.shard = next;
  }

  /** The full tensors of trainable indices `idx` (a contiguous run), all-gathered from the shards. */
  async gather(idx: readonly number[]): Promise<tf.Tensor[]> {
    const first = this.layout.tensors[idx[0] as number];
    const last = this.layout.tensors[idx[idx.length - 1] as number];
    if (first === undefined || last === undefined) throw new RangeError("gather of no tensors");
    const range: Range = [first.offset, last.offset + last.size];
    const buf = new Float32Array(range[1] - range[0]);
    const mine = intersect(this.own, range);
    if (mine[1] > mine[0]) buf.set(this.host.subarray(mine[0] - this.own[0], mine[1] - this.own[0]), mine[0] - range[0]);
    await this.collective.allGatherOwned(buf, this.owned.map((r) => shift(intersect(r, range), -range[0])));
    this.traffic.gathered += 4 * (buf.length - (mine[1] - mine[0]));
    return idx.map((i) => {
      const t = this.layout.tensors[i];
      if (t === undefined) throw new RangeError(`no tensor ${i}`);
      return tf.tensor(buf.slice(t.offset - range[0], t.offset - range[0] + t.size), t.shape, "float32");
    });
  }

  /** Every parameter, gathered (evaluation and export). */
  gatherAll(): Promise<tf.Tensor[]> {
    return this.gather(this.layout.tensors.map((t) => t.index));
  }

  /**
   * Loss and gradients of one micro-batch; each piece's gradient is reduce-scattered as soon as it is known and its
   * owned part added into `shard` (slots [own.start, own.end)); `first` sets instead of adding.
   */
  async microBatch(mb: MicroBatch, opts: ForwardOptions, shard: Float32Array, first: boolean): Promise<void> {
    const c = this.config;
    const { inputs, targets } = batchTensors(mb);
    // Every tensor made here, so a failed gather or collective mid micro-batch frees what it left (disposing twice is a no-op).
    const held: tf.Tensor[] = [inputs, targets];
    const hold = <T extends tf.Tensor>(ts: T[]): T[] => (held.push(...ts), ts);
    try {
      let w = hold(await this.gather(this.pieces.embed));
      const xs: tf.Tensor3D[] = hold([tf.tidy(() => embedForward(c, w, inputs, opts))]);
      tf.dispose(w);
      for (let layer = 0; layer < c.layers; layer++) {
        w = hold(await this.gather(this.pieces.blocks[layer] as number[]));
        const x = xs[layer] as tf.Tensor3D;
        xs.push(...hold([tf.tidy(() => blockForward(c, layer, w, x, opts))]));
        tf.dispose(w);
      }
      const final = hold(await this.gather(this.pieces.final));
      const wte = c.tieEmbeddings ? hold(await this.gather([this.pieces.wte]))[0] : undefined;
      const xL = xs.pop() as tf.Tensor3D;
      // tf.valueAndGrads and tf.grads free their own intermediates; only the forwards need a tidy.
      const h = headGrads(c, final, wte, xL, targets);
      hold([h.value, h.dx, ...h.dFinal, ...(h.dWte === undefined ? [] : [h.dWte])]);
      tf.dispose([...final, xL, ...(wte === undefined ? [] : [wte])]);
      const loss = (await h.value.data<"float32">())[0] as number;
      tf.dispose(h.value);
      await this.reduce(this.pieces.final, h.dFinal, shard, first, [loss, 1]);
      let dy = h.dx;
      for (let layer = c.layers - 1; layer >= 0; layer--) {
        const idx = this.pieces.blocks[layer] as number[];
        w = hold(await this.gather(idx));
        const x = xs.pop() as tf.Tensor3D;
        const up = dy;
        const [dx, ...dw] = hold(blockGrads(c, layer, w, x, up, opts)) as [tf.Tensor3D, ...tf.Tensor[]];
        tf.dispose([...w, x, up]);
        dy = dx;
        await this.reduce(idx, dw, shard, first);
      }
      w = hold(await this.gather(this.pieces.embed));
      const upstream = dy;
      const de = hold(
        tf.tidy(() => {
          const g = embedGrads(c, w, inputs, upstream, opts);
          return h.dWte === undefined ? g : [tiedWteGrad(h.dWte, g[0] as tf.Tensor), ...g.slice(1)];
        }),
      );
      tf.dispose([...w, upstream, ...(h.dWte === undefined ? [] : [h.dWte])]);
      await this.reduce(this.pieces.embed, de, shard, first);
    } finally {
      tf.dispose(held);
    }
  }

  /** Packs the gradients of `idx` (and the stat slots after the last tensor), reduce-scatters, keeps the owned part. */
  private async reduce(idx: readonly number[], grads: tf.Tensor[], shard: Float32Array, first: boolean, stats?: [number, number]): Promise<void> {
    const head = this.layout.tensors[idx[0] as number];
    const tail = this.layout.tensors[idx[idx.length - 1] as number];
    if (head === undefined || tail === undefined) throw new RangeError("reduce of no tensors");
    const range: Range = [head.offset, tail.offset + tail.size + (stats === undefined ? 0 : stats.length)];
    const buf = new Float32Array(range[1] - range[0]);
    const data = await Promise.all(grads.map((g) => g.data<"float32">()));
    tf.dispose(grads);
    idx.forEach((i, j) => buf.set(data[j] as Float32Array, (this.layout.tensors[i]?.offset ?? 0) - range[0]));
    if (stats !== undefined) buf.set(stats, tail.offset + tail.size - range[0]);
    await this.collective.reduceScatterSum(buf, this.owned.map((r) => shift(intersect(r, range), -range[0])));
    const mine = intersect(this.own, range);
    this.traffic.reduced += 4 * (buf.length - (mine[1] - mine[0]));
    addOwned(shard, this.own[0], buf, range[0], mine, first);
  }

  dispose(): void {
    tf.dispose(this.shard);
    this.shard = [];
  }
}

/** shard[mine] (+)= buf[mine], both addressed by flat slot from their bases; float32 adds, micro-batch order. */
export function addOwned(shard: Float32Array, shardBase: number, buf: Float32Array, bufBase: number, mine: Range, first: boolean): void {
  for (let i = mine[0]; i < mine[1]; i++) {
    const v = buf[i - bufBase] as number;
    shard[i - shardBase] = first ? v : (shard[i - shardBase] as number) + v;
  }
}
