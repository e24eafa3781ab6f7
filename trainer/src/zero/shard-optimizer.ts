// AdamW over this rank's shard only: one optimizer parameter per tensor piece in the owned range (1-D, decay flag
// of the tensor it comes from), so the update is element for element plain DP's. Exports and imports the moments
// both as this rank's flat shard and as the full by-name state plain DP checkpoints hold.
import * as tf from "@tensorflow/tfjs-core";
import type { NamedArray } from "../checkpoint/named-array.js";
import type { Range } from "../collective/collective.js";
import { ParamImportError } from "../model/param-io.js";
import { AdamW, ADAMW_STEP_NAME, type AdamWHyper } from "../optim/adamw.js";
import { allocatedBytes } from "./allocated-bytes.js";
import { segmentsIn, type FlatLayout, type ShardSegment } from "./shard-layout.js";

export interface MomentShard {
  /** Owned parameter elements in flat order. */
  m: Float32Array;
  v: Float32Array;
  step: number;
}

const segmentName = (s: ShardSegment): string => `${s.tensor.name}[${s.from}:${s.from + s.length}]`;

export class ShardedOptimizer {
  readonly segments: ShardSegment[];
  /** Owned parameter elements. */
  readonly length: number;
  private readonly adamw: AdamW;
  private readonly momentBytes: number;

  constructor(
    readonly layout: FlatLayout,
    readonly own: Range,
    hyper: AdamWHyper,
  ) {
    this.segments = segmentsIn(layout, own);
    this.length = this.segments.reduce((n, s) => n + s.length, 0);
    // Measured at allocation: AdamW replaces m and v each update with tensors of the same shapes.
    const made = allocatedBytes(() => new AdamW(this.segments.map((s) => ({ name: segmentName(s), shape: [s.length], decay: s.tensor.decay })), hyper));
    this.adamw = made.value;
    this.momentBytes = made.bytes;
  }

  get stepCount(): number {
    return this.adamw.stepCount;
  }

  /** Bytes of m and v held (what tfjs allocated for them). */
  get bytes(): number {
    return this.momentBytes;
  }

  /**
   * New values of the owned pieces. `reduced` holds the summed gradient of slots [base, base + reduced.length);
   * it is scaled by `factor` (clip / micro-batches) in float32, as plain DP does.
   */
  update(pieces: readonly tf.Tensor[], reduced: Float32Array, base: number, factor: number, lr: number): tf.Tensor[] {
    const grads = tf.tidy(() => this.segments.map((s) => tf.mul(tf.tensor1d(reduced.slice(s.flatStart - base, s.flatStart - base + s.length), "float32"), factor)));
    try {
      return this.adamw.apply(pieces, grads, lr);
    } finally {
      tf.dispose(grads);
    }
  }

  async exportShard(): Promise<MomentShard> {
    const state = await this.adamw.exportState();
    const n = this.segments.length;
    const m = new Float32Array(this.length);
    const v = new Float32Array(this.length);
    let at = 0;
    this.segments.forEach((s, i) => {
      m.set(state[i]?.data as Float32Array, at);
      v.set(state[n + i]?.data as Float32Array, at);
      at += s.length;
    });
    return { m, v, step: this.adamw.stepCount };
  }

  /** Takes this rank's pieces of a full state (m.<name>, v.<name>, adamw.step: what plain DP exports). */
  importFull(optimizer: readonly NamedArray[]): void {
    const byName = new Map(optimizer.map((a) => [a.name, a]));
    const step = byName.get(ADAMW_STEP_NAME);
    if (step === undefined) throw new ParamImportError("missing", ADAMW_STEP_NAME);
    const slice = (prefix: "m" | "v", s: ShardSegment): NamedArray => {
      const a = byName.get(`${prefix}.${s.tensor.name}`);
      if (a === undefined) throw new ParamImportError("missing", `${prefix}.${s.tensor.name}`);
      if (!(a.data instanceof Float32Array) || a.data.length !== s.tensor.size) throw new ParamImportError(`holds ${a.data.length} values, the parameter has ${s.tensor.size}`, a.name);
      return { name: `${prefix}.${segmentName(s)}`, shape: [s.length], data: a.data.slice(s.from, s.from + s.length) };
    };
    this.adamw.importState([...this.segments.map((s) => slice("m", s)), ...this.segments.map((s) => slice("v", s)), step]);
  }

  dispose(): void {
    this.adamw.dispose();
  }
}
