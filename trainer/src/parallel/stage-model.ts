// One pipeline stage of one tensor rank: the forward and backward of a micro-batch through the stage's layers (the
// embedding on the first stage, the LM head and loss on the last). Without tensor parallelism a block is the plain
// model's, recomputed under tf.grads in backward (block-backward.ts), so a pipeline alone computes what the
// blockwise single-rank backward does; with it, tensor-parallel.ts's sub-layers and their f/g all-reduces.
import * as tf from "@tensorflow/tfjs-core";
import type { Collective } from "../collective/collective.js";
import { crossEntropy, head as lmHead, type ForwardOptions } from "../model/gpt.js";
import type { GptWeights } from "../model/gpt-weights.js";
import type { ModelConfig } from "../model/model-config.js";
import { blockForward as plainBlockForward, blockGrads, embedForward as plainEmbedForward, embedGrads, headGrads } from "../train/block-backward.js";
import { PartitionError, type StageShard } from "./partition.js";
import { blockBackward, blockForward, embedBackward, embedForward, headLoss, tensorView, type BlockActs, type TensorView } from "./tensor-parallel.js";

/** Positions in the stage's local tensor list. */
export interface StageIndices {
  /** wte rows, then wpe when learned (first stage). */
  embed: number[];
  /** Each of the stage's blocks, in layer order. */
  blocks: number[][];
  /** ln_f.g, ln_f.b (last stage). */
  final: number[];
  /** The LM head matrix: lm_head, or the tied wte (its own on a one-stage pipeline, its copy on the last stage). */
  head: number | undefined;
}

export function stageIndices(shard: StageShard): StageIndices {
  const at = new Map(shard.params.map((p, i) => [p.tiedCopy ? "wte.copy" : p.name, i]));
  const need = (name: string): number => {
    const i = at.get(name);
    if (i === undefined) throw new PartitionError(`stage ${shard.place.stage} holds no ${name}`, "parallelism.pipelineParallel");
    return i;
  };
  const embed = shard.first ? [need("wte"), ...(at.has("wpe") ? [need("wpe")] : [])] : [];
  const blocks: number[][] = [];
  for (let layer = shard.layers[0]; layer < shard.layers[1]; layer++) blocks.push(shard.params.flatMap((p, i) => (p.name.startsWith(`h.${layer}.`) ? [i] : [])));
  const final = shard.last ? [need("ln_f.g"), need("ln_f.b")] : [];
  let head: number | undefined;
  if (shard.last) head = at.has("lm_head") ? need("lm_head") : at.has("wte.copy") ? need("wte.copy") : need("wte");
  return { embed, blocks, final, head };
}

/** A micro-batch's activations kept between its forward and its backward. */
export interface MicroActs {
  tokens?: tf.Tensor2D;
  /** The reduced embedding lookup (tensor-parallel first stage). */
  e?: tf.Tensor3D;
  blocks: BlockActs[];
  /** The stage's output (last stage: the head's input). */
  out?: tf.Tensor3D | undefined;
}

export interface StageBackward {
  /** Gradient for the previous stage (absent on the first). */
  dx?: tf.Tensor3D;
  /** One gradient per local tensor this micro-batch touched, by position. */
  grads: Map<number, tf.Tensor>;
  /** Mean loss of the micro-batch (last stage). */
  loss?: number;
}

export class StageModel {
  readonly indices: StageIndices;
  private readonly view: TensorView;
  private readonly tp: number;

  constructor(
    readonly config: ModelConfig,
    readonly shard: StageShard,
    private readonly tensor: Collective,
    /** full: keep only block inputs and re-run each block (its all-reduces too) in backward. */
    private readonly keepSubLayers: boolean,
  ) {
    this.indices = stageIndices(shard);
    this.view = tensorView(config, shard);
    this.tp = shard.place.tp;
  }

  /** tokens on the first stage, the previous stage's output otherwise (owned by the stage from here on). */
  async forward(params: readonly tf.Tensor[], input: { tokens: tf.Tensor2D } | { x: tf.Tensor3D }, opts: ForwardOptions): Promise<{ out: tf.Tensor3D; acts: MicroActs }> {
    const take = (idx: readonly number[]) => idx.map((i) => params[i] as tf.Tensor);
    const acts: MicroActs = { blocks: [] };
    let x: tf.Tensor3D;
    if ("tokens" in input) {
      acts.tokens = input.tokens;
      if (this.tp === 1) x = tf.tidy(() => plainEmbedForward(this.config, take(this.indices.embed), input.tokens, opts));
      else {
        const r = await embedForward(this.view, this.tensor, take(this.indices.embed), input.tokens, opts);
        acts.e = r.e;
        x = r.x;
      }
    } else x = input.x;
    for (const [j, idx] of this.indices.blocks.entries()) {
      const layer = this.shard.layers[0] + j;
      if (this.tp === 1) {
        const xin = x;
        x = tf.tidy(() => plainBlockForward(this.config, layer, take(idx), xin, opts));
        acts.blocks.push({ x: xin });
      } else {
        const r = await blockForward(this.view, this.tensor, layer, take(idx), x, opts, this.keepSubLayers);
        acts.blocks.push(r.acts);
        x = r.y;
      }
    }
    if (this.shard.last) acts.out = x;
    return { out: x, acts };
  }

  /** dy from the next stage, or targets on the last. Frees the micro-batch's activations. */
  async backward(params: readonly tf.Tensor[], acts: MicroActs, upstream: { dy: tf.Tensor3D } | { targets: tf.Tensor2D }, opts: ForwardOptions): Promise<StageBackward> {
    const take = (idx: readonly number[]) => idx.map((i) => params[i] as tf.Tensor);
    const grads = new Map<number, tf.Tensor>();
    const put = (i: number, g: tf.Tensor) => {
      const prev = grads.get(i);
      if (prev === undefined) grads.set(i, g);
      else {
        // The tied wte: the head's share first, the lookup's added to it (tiedWteGrad's order).
        grads.set(i, tf.add(prev, g));
        tf.dispose([prev, g]);
      }
    };
    const ix = this.indices;
    let dy: tf.Tensor3D;
    let loss: number | undefined;
    if ("targets" in upstream) {
      const out = acts.out as tf.Tensor3D;
      const headAt = ix.head as number;
      if (this.tp === 1) {
        const tied = this.config.tieEmbeddings;
        const h = headGrads(this.config, tied ? take(ix.final) : [...take(ix.final), params[headAt] as tf.Tensor], tied ? params[headAt] : undefined, out, upstream.targets);
        loss = ((await h.value.data<"float32">())[0] as number) ?? NaN;
        tf.dispose([h.value, out]);
        dy = h.dx;
        ix.final.forEach((i, j) => put(i, h.dFinal[j] as tf.Tensor));
        if (!tied) put(headAt, h.dFinal[2] as tf.Tensor);
        else put(headAt, h.dWte as tf.Tensor);
      } else {
        const r = await headLoss(this.view, this.tensor, [...take(ix.final), params[headAt] as tf.Tensor], out, upstream.targets, true);
        loss = r.loss;
        dy = r.dx as tf.Tensor3D;
        const [dg, db, dh] = r.dw as [tf.Tensor, tf.Tensor, tf.Tensor];
        put(ix.final[0] as number, dg);
        put(ix.final[1] as number, db);
        put(headAt, dh);
      }
      tf.dispose(upstream.targets);
    } else dy = upstream.dy;
    for (let j = ix.blocks.length - 1; j >= 0; j--) {
      const idx = ix.blocks[j] as number[];
      const layer = this.shard.layers[0] + j;
      const ba = acts.blocks[j] as BlockActs;
      let dx: tf.Tensor3D;
      let dw: tf.Tensor[];
      if (this.tp === 1) {
        [dx, ...dw] = blockGrads(this.config, layer, take(idx), ba.x, dy, opts) as [tf.Tensor3D, ...tf.Tensor[]];
        tf.dispose(dy);
      } else ({ dx, dw } = await blockBackward(this.view, this.tensor, layer, take(idx), ba, dy, opts));
      tf.dispose(ba.x);
      idx.forEach((i, k) => put(i, dw[k] as tf.Tensor));
      dy = dx;
    }
    if (acts.tokens === undefined) return { dx: dy, grads, ...(loss === undefined ? {} : { loss }) };
    const tokens = acts.tokens;
    let de: tf.Tensor[];
    if (this.tp === 1) {
      de = embedGrads(this.config, take(ix.embed), tokens, dy, opts);
      tf.dispose(dy);
    } else {
      de = embedBackward(this.view, take(ix.embed), tokens, acts.e as tf.Tensor3D, dy, opts);
      tf.dispose(acts.e);
    }
    tf.dispose(tokens);
    ix.embed.forEach((i, k) => put(i, de[k] as tf.Tensor));
    return { grads, ...(loss === undefined ? {} : { loss }) };
  }

  /** Mean loss of the micro-batch from the stage's output, no gradients (last stage). Frees out and targets. */
  async loss(params: readonly tf.Tensor[], out: tf.Tensor3D, targets: tf.Tensor2D): Promise<number> {
    const ix = this.indices;
    const headMatrix = params[ix.head as number] as tf.Tensor;
    const [g, b] = ix.final.map((i) => params[i] as tf.Tensor) as [tf.Tensor, tf.Tensor];
    try {
      if (this.tp > 1) return (await headLoss(this.view, this.tensor, [g, b, headMatrix], out, targets, false)).loss;
      const w = { wte: headMatrix, lnFg: g, lnFb: b, blocks: [], ...(this.config.tieEmbeddings ? {} : { lmHead: headMatrix }) } as GptWeights;
      const value = tf.tidy(() => crossEntropy(lmHead(this.config, w, out), targets));
      const v = (await value.data<"float32">())[0] as number;
      tf.dispose(value);
      return v;
    } finally {
      tf.dispose([out, targets]);
    }
  }
}
