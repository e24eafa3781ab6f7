// AdamW (Loshchilov & Hutter) with decoupled weight decay, written out because tfjs has only Adam. The update is
// PyTorch's: p ← p·(1 − lr·wd) − (lr / bc1) · m / (√v / √bc2 + eps), bias corrections bc = 1 − βᵗ. Its state is m, v
// per parameter and the step count, exported as NamedArray[] so a resume restores it bit for bit.
import * as tf from "@tensorflow/tfjs-core";
import type { NamedArray } from "../checkpoint/named-array.js";
import { exportTensors, matchNamedArrays, ParamImportError } from "../model/param-io.js";
import { decays } from "./weight-decay.js";

export interface AdamWHyper {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface OptimParam {
  name: string;
  shape: number[];
  /** Whether weight decay applies; default: by shape (decays()). A ZeRO shard's 1-D pieces of matrices set it. */
  decay?: boolean;
}

/** Name of the optimizer's step count in its exported state. */
export const ADAMW_STEP_NAME = "adamw.step";

export class AdamW {
  private m: tf.Tensor[];
  private v: tf.Tensor[];
  private t = 0;
  private readonly decayMask: boolean[];

  constructor(
    readonly params: readonly OptimParam[],
    readonly hyper: AdamWHyper,
  ) {
    this.m = params.map((p) => tf.zeros(p.shape, "float32"));
    this.v = params.map((p) => tf.zeros(p.shape, "float32"));
    this.decayMask = params.map((p) => p.decay ?? decays(p.shape));
  }

  /** Updates applied so far. */
  get stepCount(): number {
    return this.t;
  }

  /**
   * One update with learning rate `lr`. Returns the new parameter tensors; the caller owns them and disposes the old
   * ones. `grads` are not disposed.
   */
  apply(params: readonly tf.Tensor[], grads: readonly tf.Tensor[], lr: number): tf.Tensor[] {
    if (params.length !== this.params.length || grads.length !== this.params.length) {
      throw new RangeError(`AdamW over ${this.params.length} parameters got ${params.length} parameters and ${grads.length} gradients`);
    }
    const t = this.t + 1;
    const { beta1, beta2, eps, weightDecay } = this.hyper;
    const stepSize = lr / (1 - Math.pow(beta1, t));
    const sqrtBc2 = Math.sqrt(1 - Math.pow(beta2, t));
    // One tidy per parameter: the update's temporaries never outlive their tensor's update (same ops, same bits).
    const out = params.map((p, i) =>
      tf.tidy(() => {
        const g = grads[i] as tf.Tensor;
        const m = tf.add(tf.mul(this.m[i] as tf.Tensor, beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(this.v[i] as tf.Tensor, beta2), tf.mul(tf.square(g), 1 - beta2));
        const decayed = this.decayMask[i] === true && weightDecay > 0 ? tf.mul(p, 1 - lr * weightDecay) : p;
        const denom = tf.add(tf.div(tf.sqrt(v), sqrtBc2), eps);
        const next = tf.sub(decayed, tf.mul(tf.div(m, denom), stepSize));
        return { m, v, next };
      }),
    );
    tf.dispose([...this.m, ...this.v]);
    this.m = out.map((o) => o.m);
    this.v = out.map((o) => o.v);
    this.t = t;
    return out.map((o) => o.next);
  }

  /** m.<param>, v.<param> in parameter order, then the step count as int32 [1]. */
  async exportState(): Promise<NamedArray[]> {
    const m = await exportTensors(this.params.map((p) => ({ name: `m.${p.name}` })), this.m);
    const v = await exportTensors(this.params.map((p) => ({ name: `v.${p.name}` })), this.v);
    return [...m, ...v, { name: ADAMW_STEP_NAME, shape: [1], data: Int32Array.of(this.t) }];
  }

  /** Replaces the state with an exported one; every moment must be present with its parameter's shape. */
  importState(state: readonly NamedArray[]): void {
    const stepEntry = state.find((a) => a.name === ADAMW_STEP_NAME);
    const t = stepEntry?.data[0];
    if (stepEntry === undefined || !(stepEntry.data instanceof Int32Array) || t === undefined || t < 0) {
      throw new ParamImportError("missing or not a non-negative int32", ADAMW_STEP_NAME);
    }
    const moments = state.filter((a) => a !== stepEntry);
    const expected = [...this.params.map((p) => ({ name: `m.${p.name}`, shape: p.shape })), ...this.params.map((p) => ({ name: `v.${p.name}`, shape: p.shape }))];
    const matched = matchNamedArrays(expected, moments);
    const tensors = matched.map((a) => tf.tensor(a.data.slice(), a.shape, "float32"));
    tf.dispose([...this.m, ...this.v]);
    this.m = tensors.slice(0, this.params.length);
    this.v = tensors.slice(this.params.length);
    this.t = t;
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
    this.m = [];
    this.v = [];
  }
}
