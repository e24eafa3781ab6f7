// The model cut at block boundaries for a manual backward (full activation checkpointing, ZeRO-3): the forward of
// each piece without a tape, and each piece's gradients by tf.grads with the upstream gradient passed in. The
// weights of a piece are explicit lists in layout order, so a caller may hand over gathered copies that live only
// for the call. Sync and pure in (weights, inputs); the drivers decide what is kept, gathered and freed.
import * as tf from "@tensorflow/tfjs-core";
import { block, crossEntropy, embed, head, type ForwardOptions } from "../model/gpt.js";
import type { BlockWeights, GptWeights } from "../model/gpt-weights.js";
import type { ModelConfig } from "../model/model-config.js";
import { paramLayout } from "../model/param-layout.js";
import type { MicroBatch } from "./micro-batches.js";
import type { LossAndGrads } from "./objective.js";

/** Indices into the trainable list (paramLayout order) of each piece. */
export interface ModelPieces {
  /** wte, then wpe when learned. */
  embed: number[];
  blocks: number[][];
  /** ln_f.g, ln_f.b, then lm_head when untied. */
  final: number[];
  /** Index of wte (the tied LM head reads it too). */
  wte: number;
}

export function modelPieces(config: ModelConfig): ModelPieces {
  const pieces: ModelPieces = { embed: [], blocks: Array.from({ length: config.layers }, () => []), final: [], wte: 0 };
  paramLayout(config).forEach((spec, i) => {
    const m = /^h\.(\d+)\./.exec(spec.name);
    if (m !== null) pieces.blocks[Number(m[1])]?.push(i);
    else if (spec.name === "wte" || spec.name === "wpe") pieces.embed.push(i);
    else pieces.final.push(i);
  });
  return pieces;
}

/** The block's weights from a list in paramLayout order (gpt-weights' blockWeightList order); gate only for SwiGLU. */
export function toBlockWeights(config: ModelConfig, list: readonly tf.Tensor[]): BlockWeights {
  const expected = config.activation === "swiglu" ? 17 : 16;
  if (list.length !== expected) throw new RangeError(`a block has ${expected} weights, got ${list.length}`);
  let at = 0;
  const next = (): tf.Tensor => list[at++] as tf.Tensor;
  // Object literals evaluate left to right, so the fields take the list in order.
  return {
    ln1g: next(), ln1b: next(), q: next(), qb: next(), k: next(), kb: next(), v: next(), vb: next(), o: next(), ob: next(),
    ln2g: next(), ln2b: next(), fc: next(), ...(config.activation === "swiglu" ? { gate: next() } : {}), fcb: next(), proj: next(), projb: next(),
  };
}

/** embed() and head() read only these fields; the rest of GptWeights is not consulted. */
function partialWeights(fields: Partial<GptWeights> & { wte: tf.Tensor }): GptWeights {
  return { blocks: [], lnFg: fields.wte, lnFb: fields.wte, ...fields } as GptWeights;
}

const embedWeights = (config: ModelConfig, w: readonly tf.Tensor[]): GptWeights =>
  partialWeights(config.positionalEncoding === "learned" ? { wte: w[0] as tf.Tensor, wpe: w[1] as tf.Tensor } : { wte: w[0] as tf.Tensor });

export function embedForward(config: ModelConfig, w: readonly tf.Tensor[], inputs: tf.Tensor2D, opts: ForwardOptions): tf.Tensor3D {
  return embed(config, embedWeights(config, w), inputs, opts);
}

export function blockForward(config: ModelConfig, layer: number, w: readonly tf.Tensor[], x: tf.Tensor3D, opts: ForwardOptions): tf.Tensor3D {
  return block(config, layer, toBlockWeights(config, w), x, opts);
}

export interface HeadGrads {
  value: tf.Scalar;
  /** d loss / d x of the last block's output. */
  dx: tf.Tensor3D;
  /** Gradients of `final`'s tensors, in order. */
  dFinal: tf.Tensor[];
  /** Tied embeddings: the head's share of wte's gradient. */
  dWte?: tf.Tensor;
}

/** Loss of the final LayerNorm and LM head on x, and its gradients. `wte` is read only when embeddings are tied. */
export function headGrads(config: ModelConfig, final: readonly tf.Tensor[], wte: tf.Tensor | undefined, x: tf.Tensor3D, targets: tf.Tensor2D): HeadGrads {
  const tied = config.tieEmbeddings;
  const inputs = tied ? [x, ...final, wte as tf.Tensor] : [x, ...final];
  const { value, grads } = tf.valueAndGrads((...t: tf.Tensor[]) => {
    const [xx, g, b, m] = t as [tf.Tensor3D, tf.Tensor, tf.Tensor, tf.Tensor];
    const w = partialWeights(tied ? { wte: m, lnFg: g, lnFb: b } : { wte: m, lnFg: g, lnFb: b, lmHead: m });
    return crossEntropy(head(config, w, xx), targets);
  })(inputs);
  const [dx, ...rest] = grads as [tf.Tensor3D, ...tf.Tensor[]];
  return tied ? { value, dx, dFinal: rest.slice(0, 2), dWte: rest[2] as tf.Tensor } : { value, dx, dFinal: rest };
}

/** [dx, ...dWeights] of block `layer` at input x for upstream gradient dy (the block is recomputed). */
export function blockGrads(config: ModelConfig, layer: number, w: readonly tf.Tensor[], x: tf.Tensor3D, dy: tf.Tensor3D, opts: ForwardOptions): tf.Tensor[] {
  return tf.grads((...t: tf.Tensor[]) => block(config, layer, toBlockWeights(config, t.slice(1)), t[0] as tf.Tensor3D, opts))([x, ...w], dy);
}

/** Gradients of the embedding's tensors for upstream gradient dy. */
export function embedGrads(config: ModelConfig, w: readonly tf.Tensor[], inputs: tf.Tensor2D, dy: tf.Tensor3D, opts: ForwardOptions): tf.Tensor[] {
  return tf.grads((...t: tf.Tensor[]) => embed(config, embedWeights(config, t), inputs, opts))([...w], dy);
}

/** The tied wte gradient as the tape sums it: the head's share first, the lookup's added to it. */
export const tiedWteGrad = (fromHead: tf.Tensor, fromEmbed: tf.Tensor): tf.Tensor => tf.add(fromHead, fromEmbed);

/**
 * Full activation checkpointing as an Objective's gradients(): keep only each block's input; in backward recompute
 * the block and take its gradients with tf.grads and the upstream gradient. The tape's loss and gradients, bitwise.
 */
export function blockwiseGradients(config: ModelConfig): (trainable: readonly tf.Tensor[], mb: MicroBatch, opts: ForwardOptions) => LossAndGrads {
  const pieces = modelPieces(config);
  return (trainable, mb, opts) => {
    const take = (idx: readonly number[]) => idx.map((i) => trainable[i] as tf.Tensor);
    const inputs = tf.tensor2d(mb.inputs, [mb.rows, mb.seqLen], "int32");
    const targets = tf.tensor2d(mb.targets, [mb.rows, mb.seqLen], "int32");
    // Block inputs only: every block's inner activations are freed by its tidy.
    const xs: tf.Tensor3D[] = [tf.tidy(() => embedForward(config, take(pieces.embed), inputs, opts))];
    pieces.blocks.forEach((idx, layer) => xs.push(tf.tidy(() => blockForward(config, layer, take(idx), xs[layer] as tf.Tensor3D, opts))));
    const grads: tf.Tensor[] = new Array<tf.Tensor>(trainable.length);
    const h = headGrads(config, take(pieces.final), trainable[pieces.wte], xs[config.layers] as tf.Tensor3D, targets);
    pieces.final.forEach((i, j) => (grads[i] = h.dFinal[j] as tf.Tensor));
    tf.dispose(xs.pop());
    let dy = h.dx;
    for (let layer = config.layers - 1; layer >= 0; layer--) {
      const idx = pieces.blocks[layer] as number[];
      const [dx, ...dw] = blockGrads(config, layer, take(idx), xs[layer] as tf.Tensor3D, dy, opts) as [tf.Tensor3D, ...tf.Tensor[]];
      idx.forEach((i, j) => (grads[i] = dw[j] as tf.Tensor));
      tf.dispose([dy, xs.pop() as tf.Tensor]);
      dy = dx;
    }
    const de = embedGrads(config, take(pieces.embed), inputs, dy, opts);
    tf.dispose(dy);
    pieces.embed.forEach((i, j) => (grads[i] = de[j] as tf.Tensor));
    if (h.dWte !== undefined) {
      grads[pieces.wte] = tiedWteGrad(h.dWte, de[0] as tf.Tensor);
      tf.dispose([h.dWte, de[0] as tf.Tensor]);
    }
    return { value: h.value, grads };
  };
}
