// One data-parallel rank's training step: forward/backward per micro-batch with gradient accumulation, one
// all-reduce of the summed gradients (and of the loss) through the Collective, clipping, AdamW at lr(step). The
// host reads tensors only with the asynchronous .data(), and every intermediate is disposed.
import * as tf from "@tensorflow/tfjs-core";
import type { NamedArray } from "../checkpoint/named-array.js";
import type { Collective } from "../collective/collective.js";
import type { ForwardOptions } from "../model/gpt.js";
import { exportTensors, importTensors } from "../model/param-io.js";
import type { ParamSpec } from "../model/param-layout.js";
import { AdamW } from "../optim/adamw.js";
import { clipCoefficient, globalNorm } from "../optim/grad-clip.js";
import { learningRate } from "../optim/lr-schedule.js";
import { toMicroBatches, type MicroBatch } from "./micro-batches.js";
import { fullModelObjective, type Objective } from "./objective.js";
import { accumulationSteps, type TrainConfig } from "./train-config.js";

export interface StepStats {
  step: number;
  /** Mean loss over every micro-batch of every rank (identical on all ranks). */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Clipping factor applied (1 = not clipped). */
  clip: number;
  lr: number;
  /** Tokens this step consumed across the world. */
  tokens: number;
}

export interface TrainerState {
  params: NamedArray[];
  /** m.<param>, v.<param>, adamw.step. */
  optimizer: NamedArray[];
}

export class NonFiniteError extends Error {
  constructor(
    readonly step: number,
    readonly loss: number,
    readonly gradNorm: number,
  ) {
    super(`step ${step}: loss ${loss}, gradient norm ${gradNorm}: training diverged`);
    this.name = "NonFiniteError";
  }
}

export interface TrainerOptions {
  /** Start from these trainable values instead of objective.init(config.seed) (e.g. rank 0's broadcast copy). */
  params?: readonly NamedArray[];
  /** What is trained and how its loss is taken; default: every parameter, cross-entropy. */
  objective?: Objective;
}

export class Trainer {
  /** Micro-batches this rank runs per optimizer step. */
  readonly accumulation: number;
  readonly objective: Objective;
  private readonly layout: readonly ParamSpec[];
  private params: tf.Tensor[];
  private readonly optimizer: AdamW;

  constructor(
    readonly config: TrainConfig,
    readonly collective: Collective,
    options: TrainerOptions = {},
  ) {
    this.accumulation = accumulationSteps(config.globalBatchSize, config.microBatchSize, collective.worldSize);
    this.objective = options.objective ?? fullModelObjective(config.model);
    this.layout = this.objective.trainable;
    this.params = importTensors(this.layout, options.params ?? this.objective.init(config.seed));
    this.optimizer = new AdamW(this.layout, config.optimizer);
  }

  /** Sequences this rank must pass to step(): globalBatchSize / worldSize. */
  get rowsPerStep(): number {
    return this.accumulation * this.config.microBatchSize;
  }

  /** Runs optimizer step `step` on this rank's rows (each contextLength + 1 tokens) and resolves the mean loss. */
  async step(step: number, rows: readonly Int32Array[]): Promise<number> {
    return (await this.stepWithStats(step, rows)).loss;
  }

  async stepWithStats(step: number, rows: readonly Int32Array[]): Promise<StepStats> {
    const m = this.config.model;
    if (rows.length !== this.rowsPerStep) {
      throw new RangeError(`step ${step}: rank ${this.collective.rank} got ${rows.length} rows, needs ${this.rowsPerStep} (${this.accumulation} × ${this.config.microBatchSize})`);
    }
    const micro = toMicroBatches(rows, this.config.microBatchSize, m.contextLength, m.vocabSize);
    let acc: tf.Tensor[] | undefined;
    let lossSum: tf.Scalar | undefined;
    micro.forEach((mb, i) => {
      const dropout = m.dropout > 0 ? { baseSeed: this.config.seed, step, rank: this.collective.rank, micro: i } : undefined;
      const { value, grads } = this.gradients(mb, dropout === undefined ? {} : { dropout });
      if (acc === undefined || lossSum === undefined) {
        acc = grads;
        lossSum = value;
      } else {
        const prev: tf.Tensor[] = acc;
        const prevLoss: tf.Scalar = lossSum;
        acc = tf.tidy(() => prev.map((a, j) => tf.add(a, grads[j] as tf.Tensor)));
        lossSum = tf.tidy(() => tf.add(prevLoss, value) as tf.Scalar);
        tf.dispose([...prev, prevLoss, ...grads, value]);
      }
    });
    const summed = acc as tf.Tensor[];
    const lossTensor = lossSum as tf.Scalar;
    const parts = (await Promise.all(summed.map((g) => g.data<"float32">()))) as Float32Array[];
    const localLoss = (await lossTensor.data<"float32">())[0] as number;
    tf.dispose([...summed, lossTensor]);

    // The loss and the micro-batch count ride in the same all-reduce: one collective per step, and the divisor is
    // what the world actually contributed.
    const stats = Float32Array.of(localLoss, micro.length);
    await this.collective.allReduceSum([...parts, stats]);
    const count = stats[1] as number;
    const loss = (stats[0] as number) / count;
    const gradNorm = globalNorm(parts, 1 / count);
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) throw new NonFiniteError(step, loss, gradNorm);
    const clip = clipCoefficient(gradNorm, this.config.gradClipNorm);
    const lr = learningRate(this.config.schedule, step);

    const factor = clip / count;
    const old = this.params;
    const grads = tf.tidy(() => parts.map((p, i) => tf.mul(tf.tensor(p, (old[i] as tf.Tensor).shape, "float32"), factor)));
    this.params = this.optimizer.apply(old, grads, lr);
    tf.dispose([...old, ...grads]);
    const seqLen = (micro[0] as MicroBatch).seqLen;
    return { step, loss, gradNorm, clip, lr, tokens: count * this.config.microBatchSize * seqLen };
  }

  /** Loss and gradients of one micro-batch, intermediates disposed. */
  private gradients(mb: MicroBatch, opts: ForwardOptions): { value: tf.Scalar; grads: tf.Tensor[] } {
    return tf.tidy(() => {
      const { value, grads } = this.objective.gradients(this.params, mb, opts);
      return { value, grads };
    });
  }

  /** Mean loss over `rows` on this rank, token-weighted, without gradients or dropout. */
  async evaluate(rows: readonly Int32Array[]): Promise<number> {
    const m = this.config.model;
    const micro = toMicroBatches(rows, this.config.microBatchSize, m.contextLength, m.vocabSize, true);
    const losses = micro.map((mb) => tf.tidy(() => tf.mul(this.objective.evalLoss(this.params, mb), mb.rows) as tf.Scalar));
    const values = await Promise.all(losses.map((l) => l.data<"float32">()));
    tf.dispose(losses);
    const total = values.reduce((s, v) => s + (v[0] as number), 0);
    return total / rows.length;
  }

  /** The trainable tensors, named by the objective's layout. */
  exportParams(): Promise<NamedArray[]> {
    return exportTensors(this.layout, this.params);
  }

  async exportState(): Promise<TrainerState> {
    return { params: await this.exportParams(), optimizer: await this.optimizer.exportState() };
  }

  /** Replaces weights and optimizer state (validated by name and shape) with an exported state. */
  importState(state: TrainerState): void {
    const params = importTensors(this.layout, state.params);
    try {
      this.optimizer.importState(state.optimizer);
    } catch (err) {
      tf.dispose(params);
      throw err;
    }
    tf.dispose(this.params);
    this.params = params;
  }

  /** Optimizer updates applied so far (the step a resumed run continues from). */
  get optimizerSteps(): number {
    return this.optimizer.stepCount;
  }

  dispose(): void {
    tf.dispose(this.params);
    this.params = [];
    this.optimizer.dispose();
  }
}

/** Perplexity of a mean natural-log cross-entropy. */
export const perplexity = (loss: number): number => Math.exp(loss);
