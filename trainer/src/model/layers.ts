// The building blocks of the decoder as pure tensor functions: every weight is an argument, nothing is captured.
import * as tf from "@tensorflow/tfjs-core";

const LN_EPS = 1e-5;

/** LayerNorm over the last axis (GPT-2: eps 1e-5, learned gain and bias). */
export function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, LN_EPS))), g), b);
}

const GELU_C = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation (GPT-2's "gelu_new"), so an exported model computes the same function in transformers. */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), GELU_C);
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/** SiLU (swish): x·sigmoid(x), SwiGLU's gate. */
export const silu = (x: tf.Tensor): tf.Tensor => tf.mul(x, tf.sigmoid(x));

/** x·W + b for x [..., in], W [in, out]. */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const inDim = x.shape[x.shape.length - 1] ?? 0;
  const outDim = w.shape[1] ?? 0;
  const flat = tf.reshape(x, [-1, inDim]);
  const y = b === undefined ? tf.matMul(flat, w) : tf.add(tf.matMul(flat, w), b);
  return tf.reshape(y, [...x.shape.slice(0, -1), outDim]);
}

/** Inverted dropout with an explicit seed; identity when rate is 0. */
export function dropout(x: tf.Tensor, rate: number, seed: number | undefined): tf.Tensor {
  return rate > 0 && seed !== undefined ? tf.dropout(x, rate, undefined, seed) : x;
}
