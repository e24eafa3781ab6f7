// One data-parallel rank's training step: forward/backward per micro-batch with gradient accumulation, one
// all-reduce of the summed gradients (and of the loss) through the Collective, clipping, AdamW at lr(step). The
// host reads tensors only with the asynchronous .data(), and every intermediate is disposed.
import * as tf from "@tensorflow/tfjs-core";
import type { NamedArray } from "../checkpoint/named-array.js";
import { hasShardOps, type Collective, type Range, type ShardCollective } from "../collective/collective.js";
import { DEFAULT_BUCKET_BYTES } from "../collective/ring-collective.js";
import type { ForwardOptions } from "../model/gpt.js";
import { exportTensors, importTensors, matchNamedArrays } from "../model/param-io.js";
import type { ParamSpec } from "../model/param-layout.js";
import { AdamW } from "../optim/adamw.js";
import { clipCoefficient, globalNorm, sumOfSquares } from "../optim/grad-clip.js";
import { learningRate } from "../optim/lr-schedule.js";
import { toMicroBatches, type MicroBatch } from "./micro-batches.js";
import { paramLayout } from "../model/param-layout.js";
import { ADAMW_STEP_NAME } from "../optim/adamw.js";
import { zeroMemory, type MemoryBytes } from "../zero/memory-accounting.js";
import { reduceStats } from "../zero/step-stats.js";
import { ShardedOptimizer } from "../zero/shard-optimizer.js";
import { allocatedBytes } from "../zero/allocated-bytes.js";
import { flatLayout, intersect, paramsIn, rangeLength, shardRanges, shift, type FlatLayout } from "../zero/shard-layout.js";
import { addOwned, Zero3Model, type TrafficCounter } from "../zero/zero3-model.js";
import { withCheckpointing } from "./checkpointed-objective.js";
import { fullModelObjective, type Objective } from "./objective.js";
import { accumulationSteps, PLAIN_DP, TrainConfigError, type MemoryConfig, type TrainConfig } from "./train-config.js";

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

/** This rank's shard of a sharded trainer's state: what it saves in its own checkpoint files. */
export interface ShardState {
  stage: 1 | 2 | 3;
  rank: number;
  worldSize: number;
  /** Parameter elements [start, end) of the flat layout this rank owns. */
  range: Range;
  m: Float32Array;
  v: Float32Array;
  step: number;
  /** ZeRO-3: the owned parameters. */
  params?: Float32Array;
}

/** The ZeRO machinery of a trainer with stage ≥ 1. */
interface ZeroContext {
  stage: 1 | 2 | 3;
  collective: ShardCollective;
  layout: FlatLayout;
  owned: Range[];
  optimizer: ShardedOptimizer;
  z3?: Zero3Model;
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
  readonly memory: MemoryConfig;
  /** Bytes this rank's ZeRO collectives moved (reduce-scatter, all-gather), for the benchmark. */
  readonly traffic: TrafficCounter = { gathered: 0, reduced: 0 };
  private readonly layout: readonly ParamSpec[];
  private params: tf.Tensor[];
  private readonly optimizer: AdamW | undefined;
  private readonly zero: ZeroContext | undefined;
  /** Host bytes of the reduced gradient the last step held, stat slots excluded (the accounting's live figure). */
  private gradBytes = 0;
  /** Plain DP: bytes tfjs allocated for AdamW's m and v (same shapes after every update). */
  private optimizerBytes = 0;

  constructor(
    readonly config: TrainConfig,
    readonly collective: Collective,
    options: TrainerOptions = {},
  ) {
    this.accumulation = accumulationSteps(config.globalBatchSize, config.microBatchSize, collective.worldSize);
    this.memory = config.memory ?? PLAIN_DP;
    this.objective = withCheckpointing(options.objective ?? fullModelObjective(config.model), this.memory.gradientCheckpointing);
    this.layout = this.objective.trainable;
    const initial = options.params ?? this.objective.init(config.seed);
    const stage = this.memory.zeroStage;
    if (this.objective.parallel !== undefined && stage === 3) {
      throw new TrainConfigError("ZeRO-3 shards whole-model parameters; with tensor or pipeline parallelism use stage 1 or 2", "parallelism.zeroStage");
    }
    if (stage === 0) {
      this.params = importTensors(this.layout, initial);
      const made = allocatedBytes(() => new AdamW(this.layout, config.optimizer));
      this.optimizer = made.value;
      this.optimizerBytes = made.bytes;
      this.zero = undefined;
      return;
    }
    if (!hasShardOps(collective)) throw new TrainConfigError(`ZeRO-${stage} needs a collective with reduce-scatter and all-gather of shards`, "parallelism.zeroStage");
    const layout = flatLayout(this.layout);
    const owned = shardRanges(layout.slots, collective.worldSize);
    const own = owned[collective.rank] as Range;
    const optimizer = new ShardedOptimizer(layout, own, config.optimizer);
    this.optimizer = undefined;
    if (stage === 3) {
      const full = paramLayout(config.model);
      if (full.length !== this.layout.length || full.some((p, i) => p.name !== this.layout[i]?.name)) {
        throw new TrainConfigError("ZeRO-3 shards the whole model; this objective trains a subset (use stage 1 or 2)", "parallelism.zeroStage");
      }
      this.params = [];
      const flat = packArrays(layout, matchNamedArrays(this.layout, initial));
      this.zero = { stage, collective, layout, owned, optimizer, z3: new Zero3Model(config.model, layout, owned, collective, flat, this.traffic) };
    } else {
      this.params = importTensors(this.layout, initial);
      this.zero = { stage, collective, layout, owned, optimizer };
    }
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
    if (this.zero !== undefined) return this.shardedStep(this.zero, step, micro);
    const summed = await this.accumulate(step, micro);
    const parts = (await Promise.all(summed.grads.map((g) => g.data<"float32">()))) as Float32Array[];
    const localLoss = (await summed.loss.data<"float32">())[0] as number;
    tf.dispose([...summed.grads, summed.loss]);
    this.gradBytes = parts.reduce((n, p) => n + p.byteLength, 0);

    // The loss and the micro-batch count ride in the same all-reduce: one collective per step, and the divisor is
    // what the world actually contributed.
    const stats = Float32Array.of(localLoss, micro.length);
    await this.collective.allReduceSum([...parts, stats]);
    const count = stats[1] as number;
    const loss = (stats[0] as number) / count;
    const gradNorm = await this.modelNorm(parts, 1 / count);
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) throw new NonFiniteError(step, loss, gradNorm);
    const clip = clipCoefficient(gradNorm, this.config.gradClipNorm);
    const lr = learningRate(this.config.schedule, step);

    const factor = clip / count;
    const old = this.params;
    const grads = tf.tidy(() => parts.map((p, i) => tf.mul(tf.tensor(p, (old[i] as tf.Tensor).shape, "float32"), factor)));
    this.params = (this.optimizer as AdamW).apply(old, grads, lr);
    tf.dispose([...old, ...grads]);
    await this.syncReplicas();
    const seqLen = (micro[0] as MicroBatch).seqLen;
    return { step, loss, gradNorm, clip, lr, tokens: count * this.config.microBatchSize * seqLen };
  }

  /** Dropout seeds of micro-batch i of this step on this rank. */
  private forwardOptions(step: number, i: number): ForwardOptions {
    return this.config.model.dropout > 0 ? { dropout: { baseSeed: this.config.seed, step, rank: this.collective.rank, micro: i } } : {};
  }

  /**
   * ZeRO-1/2/3: reduce-scatter the gradients (stage 1 once per step, as DP's all-reduce; stages 2 and 3 per
   * micro-batch, keeping only the owned part), update the owned shard, and (stages 1, 2) all-gather the parameters.
   */
  private async shardedStep(z: ZeroContext, step: number, micro: MicroBatch[]): Promise<StepStats> {
    const { layout, owned, collective } = z;
    const own = owned[collective.rank] as Range;
    let reduced: Float32Array;
    let base: number;
    // A model-parallel step hands over the whole step's gradients at once: ZeRO-2 then reduce-scatters once, as stage 1.
    if (z.stage === 1 || this.objective.parallel !== undefined) {
      const summed = await this.accumulate(step, micro);
      reduced = new Float32Array(layout.slots);
      const data = await Promise.all(summed.grads.map((g) => g.data<"float32">()));
      layout.tensors.forEach((t, i) => reduced.set(data[i] as Float32Array, t.offset));
      reduced[layout.params] = (await summed.loss.data<"float32">())[0] as number;
      reduced[layout.params + 1] = micro.length;
      tf.dispose([...summed.grads, summed.loss]);
      await collective.reduceScatterSum(reduced, owned);
      this.traffic.reduced += 4 * (layout.slots - rangeLength(own));
      base = 0;
    } else {
      reduced = new Float32Array(rangeLength(own));
      base = own[0];
      for (const [i, mb] of micro.entries()) {
        if (z.z3 !== undefined) await z.z3.microBatch(mb, this.forwardOptions(step, i), reduced, i === 0);
        else await this.reduceMicroBatch(z, mb, this.forwardOptions(step, i), reduced, i === 0);
      }
    }
    // The buffer actually held, less the loss/count slots it carries (a buffer sized wrong shows here).
    this.gradBytes = reduced.byteLength - 4 * (reduced.length - paramsIn(layout, [base, base + reduced.length]));
    const parallel = this.objective.parallel;
    const stats = await reduceStats(collective, layout, reduced, base, owned, parallel?.normWeights);
    const count = stats.count;
    const loss = stats.lossSum / count;
    const sumSquares = parallel === undefined ? stats.sumSquares : await parallel.sumOverModel(stats.sumSquares);
    const gradNorm = Math.sqrt(sumSquares) * Math.abs(1 / count);
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) throw new NonFiniteError(step, loss, gradNorm);
    const clip = clipCoefficient(gradNorm, this.config.gradClipNorm);
    const lr = learningRate(this.config.schedule, step);
    const factor = clip / count;

    if (z.z3 !== undefined) {
      const next = z.optimizer.update(z.z3.tensors, reduced, base, factor, lr);
      await z.z3.replace(next);
    } else {
      const params = this.params;
      const pieces = tf.tidy(() => z.optimizer.segments.map((s) => tf.slice(tf.reshape(params[s.tensor.index] as tf.Tensor, [-1]), [s.from], [s.length])));
      const next = z.optimizer.update(pieces, reduced, base, factor, lr);
      tf.dispose(pieces);
      const flat = new Float32Array(layout.slots);
      const data = await Promise.all(next.map((t) => t.data<"float32">()));
      tf.dispose(next);
      z.optimizer.segments.forEach((s, i) => flat.set(data[i] as Float32Array, s.flatStart));
      await collective.allGatherOwned(flat, owned);
      this.traffic.gathered += 4 * (layout.slots - rangeLength(own));
      this.params = layout.tensors.map((t) => tf.tensor(flat.slice(t.offset, t.offset + t.size), t.shape, "float32"));
      tf.dispose(params);
      await this.syncReplicas();
    }
    const seqLen = (micro[0] as MicroBatch).seqLen;
    return { step, loss, gradNorm, clip, lr, tokens: count * this.config.microBatchSize * seqLen };
  }

  /** A split model over 3+ data-parallel ranks: replicas from their primaries (ModelParallelStep.syncReplicas says why). */
  private async syncReplicas(): Promise<void> {
    const parallel = this.objective.parallel;
    if (parallel !== undefined && this.collective.worldSize >= 3) this.params = await parallel.syncReplicas(this.params);
  }

  /**
   * The global gradient norm of the summed gradients `parts` (every rank of the data group holds them), times scale:
   * over the model group's shards when the model is split, each tensor counted once.
   */
  private async modelNorm(parts: readonly Float32Array[], scale: number): Promise<number> {
    const parallel = this.objective.parallel;
    if (parallel === undefined) return globalNorm(parts, scale);
    return Math.sqrt(await parallel.sumOverModel(sumOfSquares(parts, parallel.normWeights))) * Math.abs(scale);
  }

  /** Plain accumulation over the micro-batches (DP, ZeRO-1), or a model-parallel step: summed gradient and loss tensors. */
  private async accumulate(step: number, micro: readonly MicroBatch[]): Promise<{ grads: tf.Tensor[]; loss: tf.Scalar }> {
    const parallel = this.objective.parallel;
    if (parallel !== undefined) {
      const { grads, lossSum } = await parallel.stepGradients(this.params, micro, (i) => this.forwardOptions(step, i));
      return { grads, loss: tf.scalar(lossSum) };
    }
    let acc: { grads: tf.Tensor[]; loss: tf.Scalar } | undefined;
    for (const [i, mb] of micro.entries()) {
      const { value, grads } = this.gradients(mb, this.forwardOptions(step, i));
      if (acc === undefined) acc = { grads, loss: value };
      else {
        const prev = acc;
        acc = tf.tidy(() => ({ grads: prev.grads.map((a, j) => tf.add(a, grads[j] as tf.Tensor)), loss: tf.add(prev.loss, value) as tf.Scalar }));
        tf.dispose([...prev.grads, prev.loss, ...grads, value]);
      }
    }
    if (acc === undefined) throw new RangeError(`step ${step}: no micro-batches`);
    return acc;
  }

  /**
   * ZeRO-2: one micro-batch's gradients, reduce-scattered bucket by bucket; each gradient tensor is freed once its
   * last bucket is packed, and each bucket's buffer once its owned part is added into `shard`.
   */
  private async reduceMicroBatch(z: ZeroContext, mb: MicroBatch, opts: ForwardOptions, shard: Float32Array, first: boolean): Promise<void> {
    const { layout, owned, collective } = z;
    const own = owned[collective.rank] as Range;
    const { value, grads } = this.gradients(mb, opts);
    const loss = (await value.data<"float32">())[0] as number;
    tf.dispose(value);
    const bucket = Math.max(1, this.memory.bucketElements ?? Math.floor(DEFAULT_BUCKET_BYTES / 4));
    let next = 0;
    let host: Float32Array | undefined;
    for (let b0 = 0; b0 < layout.slots; b0 += bucket) {
      const range: Range = [b0, Math.min(layout.slots, b0 + bucket)];
      const buf = new Float32Array(range[1] - range[0]);
      for (let i = next; i < layout.tensors.length; i++) {
        const t = layout.tensors[i] as (typeof layout.tensors)[number];
        const [s, e] = intersect(range, [t.offset, t.offset + t.size]);
        if (e <= s) break;
        host ??= await (grads[i] as tf.Tensor).data<"float32">();
        buf.set(host.subarray(s - t.offset, e - t.offset), s - range[0]);
        if (e === t.offset + t.size) {
          tf.dispose(grads[i] as tf.Tensor);
          host = undefined;
          next = i + 1;
        }
      }
      const stats = [loss, 1];
      stats.forEach((v, k) => {
        const at = layout.params + k;
        if (at >= range[0] && at < range[1]) buf[at - range[0]] = v;
      });
      await collective.reduceScatterSum(buf, owned.map((r) => shift(intersect(r, range), -range[0])));
      const mine = intersect(own, range);
      this.traffic.reduced += 4 * (buf.length - rangeLength(mine));
      addOwned(shard, own[0], buf, range[0], mine, first);
    }
    tf.dispose(grads);
  }

  /** Loss and gradients of one micro-batch, intermediates disposed. */
  private gradients(mb: MicroBatch, opts: ForwardOptions): { value: tf.Scalar; grads: tf.Tensor[] } {
    return tf.tidy(() => {
      const { value, grads } = this.objective.gradients(this.params, mb, opts);
      return { value, grads };
    });
  }

  /** Mean loss over `rows` on this rank, token-weighted, without gradients or dropout. Collective under ZeRO-3. */
  async evaluate(rows: readonly Int32Array[]): Promise<number> {
    const m = this.config.model;
    const micro = toMicroBatches(rows, this.config.microBatchSize, m.contextLength, m.vocabSize, true);
    const z3 = this.zero?.z3;
    if (this.objective.parallel !== undefined) return (await this.objective.parallel.evalLossSum(this.params, micro)) / rows.length;
    const params = z3 === undefined ? this.params : await z3.gatherAll();
    try {
      const losses = micro.map((mb) => tf.tidy(() => tf.mul(this.objective.evalLoss(params, mb), mb.rows) as tf.Scalar));
      const values = await Promise.all(losses.map((l) => l.data<"float32">()));
      tf.dispose(losses);
      const total = values.reduce((s, v) => s + (v[0] as number), 0);
      return total / rows.length;
    } finally {
      if (z3 !== undefined) tf.dispose(params);
    }
  }

  /** The trainable tensors, named by the objective's layout. Under ZeRO-3 every rank must call it (it gathers). */
  async exportParams(): Promise<NamedArray[]> {
    const z3 = this.zero?.z3;
    if (z3 === undefined) return exportTensors(this.layout, this.params);
    const params = await z3.gatherAll();
    try {
      return await exportTensors(this.layout, params);
    } finally {
      tf.dispose(params);
    }
  }

  /** The full state, as plain DP exports it. Under ZeRO every rank must call it: the shards are all-gathered. */
  async exportState(): Promise<TrainerState> {
    const z = this.zero;
    if (z === undefined) return { params: await this.exportParams(), optimizer: await (this.optimizer as AdamW).exportState() };
    const params = await this.exportParams();
    const shard = await z.optimizer.exportShard();
    const gatherMoments = async (own: Float32Array): Promise<Float32Array> => {
      const flat = new Float32Array(z.layout.slots);
      flat.set(own, (z.owned[z.collective.rank] as Range)[0]);
      await z.collective.allGatherOwned(flat, z.owned.map((r) => intersect(r, [0, z.layout.params])));
      return flat;
    };
    const [m, v] = [await gatherMoments(shard.m), await gatherMoments(shard.v)];
    const named = (prefix: string, flat: Float32Array): NamedArray[] =>
      z.layout.tensors.map((t) => ({ name: `${prefix}.${t.name}`, shape: [...t.shape], data: flat.slice(t.offset, t.offset + t.size) }));
    return { params, optimizer: [...named("m", m), ...named("v", v), { name: ADAMW_STEP_NAME, shape: [1], data: Int32Array.of(shard.step) }] };
  }

  /**
   * Replaces weights and optimizer state (validated by name and shape) with a full exported state, whatever stage
   * and world size wrote it: a sharded trainer keeps its own shard of it (re-sharding on load).
   */
  importState(state: TrainerState): void {
    const z = this.zero;
    if (z === undefined) {
      const params = importTensors(this.layout, state.params);
      try {
        (this.optimizer as AdamW).importState(state.optimizer);
      } catch (err) {
        tf.dispose(params);
        throw err;
      }
      tf.dispose(this.params);
      this.params = params;
      return;
    }
    const matched = matchNamedArrays(this.layout, state.params);
    z.optimizer.importFull(state.optimizer);
    if (z.z3 !== undefined) z.z3.setShard(packArrays(z.layout, matched), 0);
    else {
      const params = importTensors(this.layout, matched);
      tf.dispose(this.params);
      this.params = params;
    }
  }

  /** This rank's shard of a sharded trainer's state (its own checkpoint files); no collective. */
  async exportShard(): Promise<ShardState> {
    const z = this.zero;
    if (z === undefined) throw new TrainConfigError("plain DP has no shards; use exportState", "parallelism.zeroStage");
    const own = z.owned[z.collective.rank] as Range;
    const range = intersect(own, [0, z.layout.params]);
    const { m, v, step } = await z.optimizer.exportShard();
    const out: ShardState = { stage: z.stage, rank: z.collective.rank, worldSize: z.collective.worldSize, range, m, v, step };
    if (z.z3 !== undefined) {
      const data = await Promise.all(z.z3.tensors.map((t) => t.data<"float32">()));
      const params = new Float32Array(rangeLength(range));
      let at = 0;
      for (const d of data) {
        params.set(d as Float32Array, at);
        at += (d as Float32Array).length;
      }
      out.params = params;
    }
    return out;
  }

  /** Flat parameter elements [start, end) every rank's shard holds, by rank (what a sharded manifest records). */
  shardParamRanges(): Range[] {
    const z = this.zero;
    if (z === undefined) throw new TrainConfigError("plain DP has no shards", "parallelism.zeroStage");
    return z.owned.map((r) => intersect(r, [0, z.layout.params]));
  }

  /** Optimizer updates applied so far (the step a resumed run continues from). */
  get optimizerSteps(): number {
    return this.zero?.optimizer.stepCount ?? (this.optimizer as AdamW).stepCount;
  }

  /** The accounting's formula for this trainer's stage, world and rank (fp32). */
  expectedMemory(): MemoryBytes {
    // A model-parallel step runs ZeRO-2 as stage 1 (the whole step's gradients at once), so it holds what stage 1 does.
    const stage = this.objective.parallel !== undefined && this.memory.zeroStage === 2 ? 1 : this.memory.zeroStage;
    return zeroMemory(flatLayout(this.layout), stage, this.collective.worldSize, this.collective.rank);
  }

  /** What this rank holds now: parameter and optimizer tensors (tfjs), and the reduced gradient of the last step (host). */
  liveMemory(): MemoryBytes {
    const z = this.zero;
    const tensorBytes = (ts: readonly tf.Tensor[]) => ts.reduce((n, t) => n + 4 * t.size, 0);
    const params = z?.z3 !== undefined ? z.z3.bytes : tensorBytes(this.params);
    const optimizer = z !== undefined ? z.optimizer.bytes : this.optimizerBytes;
    return { params, grads: this.gradBytes, optimizer, total: params + this.gradBytes + optimizer };
  }

  dispose(): void {
    tf.dispose(this.params);
    this.params = [];
    this.optimizer?.dispose();
    this.zero?.optimizer.dispose();
    this.zero?.z3?.dispose();
  }
}

/** The arrays laid end to end in the flat layout (slots long; the stat slots stay 0). */
function packArrays(layout: FlatLayout, arrays: readonly NamedArray[]): Float32Array {
  const flat = new Float32Array(layout.slots);
  layout.tensors.forEach((t, i) => flat.set(arrays[i]?.data as Float32Array, t.offset));
  return flat;
}

/** Perplexity of a mean natural-log cross-entropy. */
export const perplexity = (loss: number): number => Math.exp(loss);
