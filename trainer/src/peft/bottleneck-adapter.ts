// A bottleneck adapter (Houlsby et al. 2019): x + up(gelu(down(x))), a small residual MLP inserted after a sublayer.
// Its up-projection starts at zero, so a fresh adapter is the identity and training starts from the base model.
import * as tf from "@tensorflow/tfjs-core";
import { geluTanh, linear } from "../model/layers.js";

export interface AdapterWeights {
  /** [d, m]: x·W layout like every Gantry matrix. */
  down: tf.Tensor;
  /** [m]. */
  downB: tf.Tensor;
  /** [m, d]. */
  up: tf.Tensor;
  /** [d]. */
  upB: tf.Tensor;
}

/** x [..., d] → x + gelu(x·down + down_b)·up + up_b. */
export function bottleneckAdapter(x: tf.Tensor, w: AdapterWeights): tf.Tensor {
  return tf.add(x, linear(geluTanh(linear(x, w.down, w.downB)), w.up, w.upB));
}
