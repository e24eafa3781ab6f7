// The attention core softmax(QKᵀ/√d + mask)·V on its own, so it can be recomputed in backward (selective activation
// checkpointing, Korthikanti et al. 2022): the [B, kv, G·T, T] scores and probabilities are the largest activations
// of a block and the cheapest to recompute.
import * as tf from "@tensorflow/tfjs-core";
import { causalMask } from "./attention-constants.js";
import { dropout } from "./layers.js";

/** q [B, kv, G·T, hd] (the G query heads of a KV head stacked on the time axis), k and v [B, kv, T, hd]. */
export function attentionCore(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, groups: number, dropoutRate: number, seed: number | undefined): tf.Tensor {
  const seqLen = k.shape[2] ?? 0;
  const hd = k.shape[3] ?? 1;
  const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd)), tf.tensor2d(causalMask(groups, seqLen), [groups * seqLen, seqLen]));
  const probs = dropout(tf.softmax(scores, -1), dropoutRate, seed);
  return tf.matMul(probs, v);
}

/**
 * The same values, but the backward keeps only q, k, v: customGrad's forward is not taped (its intermediates are
 * freed at once), and its gradient re-runs the core under tf.grads with the same dropout seed.
 */
export function recomputedAttentionCore(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, groups: number, dropoutRate: number, seed: number | undefined): tf.Tensor {
  const core = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor): tf.Tensor => attentionCore(a, b, c, groups, dropoutRate, seed);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [a, b, c, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([a, b, c]);
    return {
      value: core(a, b, c),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => nestedGrads(() => tf.grads(core)(saved, dy as tf.Tensor)),
    };
  });
  return op(q, k, v);
}

/**
 * tf.grads called from inside another backward: when the inner one ends at gradient depth 0 it frees "the" active
 * tape and sets it to null, which is the outer backward's and crashes its cleanup. Keep the outer tape around it.
 */
function nestedGrads<T>(run: () => T): T {
  const state = tf.engine().state;
  const outer = state.activeTape;
  try {
    return run();
  } finally {
    state.activeTape = outer;
  }
}
