// The Objective of one rank of a tensor × pipeline grid: its shard of the model, and a whole step's gradients by the
// pipeline schedule. Activations go to the next stage and gradients to the previous one over point-to-point
// channels; the tied embedding's two copies (first and last stage) are kept equal by all-reducing their gradients;
// the loss, known on the last stage, is shared with the model group. The Trainer then does the rest as for DP:
// the all-reduce (or ZeRO-1/2 reduce-scatter) over the data-parallel group, clipping by the global norm summed over
// the model group, AdamW.
import * as tf from "@tensorflow/tfjs-core";
import type { Collective } from "../collective/collective.js";
import { allGatherFloat64 } from "../collective/float64-gather.js";
import type { ForwardOptions } from "../model/gpt.js";
import { initParams } from "../model/init-params.js";
import type { ModelConfig } from "../model/model-config.js";
import type { MicroBatch } from "../train/micro-batches.js";
import { inputTensor, targetTensor, type ModelParallelStep, type Objective } from "../train/objective.js";
import { PartitionError, shardArrays, stageShard, type ModelPlace, type StageShard } from "./partition.js";
import { pipelineSchedule, type PipelineScheduleKind } from "./pipeline-schedule.js";
import { StageModel, type MicroActs } from "./stage-model.js";
import { allReduceTensors } from "./tensor-parallel.js";

/** One direction of a stage boundary: frames in send order, each tagged. */
export interface StageChannel {
  send(data: Float32Array, tag: number): Promise<void>;
  recv(tag: number): Promise<Float32Array>;
}

/** The groups a model-parallel rank talks to (collective/process-groups.ts's ProcessGroups has these). */
export interface ModelParallelLinks {
  readonly tensor: Collective;
  /** The tp × pp ranks sharing this rank's data-parallel index. */
  readonly model: Collective;
  /** First and last stage of this rank's pipeline (tied embeddings, pp > 1). */
  readonly embedding?: Collective | undefined;
  readonly next?: StageChannel | undefined;
  readonly prev?: StageChannel | undefined;
}

export interface ModelParallelOptions {
  schedule: PipelineScheduleKind;
  /** full: keep only each block's input per micro-batch and re-run the block in backward. */
  gradientCheckpointing: "none" | "full" | "selective";
}

const FORWARD = 0;
const BACKWARD = 1;
const tagOf = (kind: number, micro: number): number => ((kind << 20) | micro) >>> 0;

function disposeActs(a: MicroActs): void {
  const all: (tf.Tensor | undefined)[] = [a.tokens, a.e, a.out, ...a.blocks.flatMap((b) => [b.x, b.a, b.h, b.m])];
  tf.dispose(all.filter((t): t is tf.Tensor => t !== undefined));
}

/** Sum of one number over the group in rank order, in float64: the same bits on every rank. */
async function sumOver(group: Collective, x: number): Promise<number> {
  if (group.worldSize === 1) return x;
  return (await allGatherFloat64(group, Float64Array.of(x))).reduce((s, part) => s + (part[0] as number), 0);
}

/** Where a stage's step time went: the schedule's span, and the part spent waiting for a neighbour (the bubble). */
export interface PipelineProfile {
  steps: number;
  /** From the schedule's first action to its last, summed over steps. */
  scheduleMs: number;
  /** Awaiting activations or gradients from a neighbour stage, summed over steps. */
  waitMs: number;
}

export class ModelParallelObjective implements Objective {
  readonly profile: PipelineProfile = { steps: 0, scheduleMs: 0, waitMs: 0 };
  readonly shard: StageShard;
  readonly trainable: StageShard["params"];
  readonly parallel: ModelParallelStep;
  private readonly stage: StageModel;
  /** Tensors every tensor rank holds whole (their copies are replicas of tensor rank 0's). */
  private readonly replicated: number[];
  /** The token embedding when tied across a pipeline: stage 0's, or the last stage's copy of it. */
  private readonly tiedWte: number | undefined;

  constructor(
    readonly config: ModelConfig,
    readonly place: ModelPlace,
    private readonly links: ModelParallelLinks,
    readonly options: ModelParallelOptions,
  ) {
    this.shard = stageShard(config, place);
    this.trainable = this.shard.params;
    this.stage = new StageModel(config, this.shard, links.tensor, options.gradientCheckpointing !== "full");
    this.replicated = this.shard.params.flatMap((p, i) => (p.slice === undefined ? [i] : []));
    const wte = this.shard.params.findIndex((p) => p.name === "wte");
    this.tiedWte = config.tieEmbeddings && place.pp > 1 && wte >= 0 ? wte : undefined;
    if (place.pp > 1 && ((!this.shard.first && links.prev === undefined) || (!this.shard.last && links.next === undefined))) {
      throw new PartitionError(`stage ${place.stage} of ${place.pp} needs channels to both neighbours`, "parallelism.pipelineParallel");
    }
    this.parallel = {
      stepGradients: (trainable, micro, opts) => this.stepGradients(trainable, micro, opts),
      evalLossSum: (trainable, micro) => this.evalLossSum(trainable, micro),
      normWeights: this.shard.params.map((p) => (p.primary ? 1 : 0)),
      sumOverModel: (x) => sumOver(this.links.model, x),
      syncReplicas: (params) => this.syncReplicas(params),
    };
  }

  /**
   * Copies every replica from its primary: tensor rank 0's replicated tensors over the tensor group, stage 0's token
   * embedding to the last stage's tied copy. Needed when the data group has 3 or more ranks: its all-reduce sums an
   * element in an order set by the element's offset in the rank's flat buffer, the offsets of a replica differ
   * between ranks, and a sum of three or more floats depends on its order (of two, it does not).
   */
  private async syncReplicas(params: readonly tf.Tensor[]): Promise<tf.Tensor[]> {
    const out = [...params];
    const copy = async (group: Collective | undefined, at: readonly number[]) => {
      if (group === undefined || group.worldSize === 1 || at.length === 0) return;
      const parts = await Promise.all(at.map(async (i) => Float32Array.from((await (out[i] as tf.Tensor).data<"float32">()) as Float32Array)));
      const flat = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) {
        flat.set(p, o);
        o += p.length;
      }
      await group.broadcast(flat, 0);
      o = 0;
      for (const i of at) {
        const t = out[i] as tf.Tensor;
        out[i] = tf.tensor(flat.subarray(o, o + t.size), t.shape, "float32");
        o += t.size;
        tf.dispose(t);
      }
    };
    await copy(this.links.tensor, this.replicated);
    await copy(this.links.embedding, this.tiedWte === undefined ? [] : [this.tiedWte]);
    return out;
  }

  /** This shard of the full model's initialisation: the same values a single rank starts from (only the stage's tensors are drawn). */
  init(seed: number) {
    const names = new Set(this.shard.params.map((p) => p.name));
    return shardArrays(this.shard, initParams(this.config, seed, (name) => names.has(name)));
  }

  gradients(): never {
    throw new RangeError("a model-parallel objective runs whole steps (parallel.stepGradients), not single micro-batches");
  }

  evalLoss(): never {
    throw new RangeError("a model-parallel objective evaluates whole batches (parallel.evalLossSum)");
  }

  /** The checkpointing mode is fixed at construction (stepGradients applies it). */
  recomputed(): Objective {
    return this;
  }

  private async receive(micro: MicroBatch, kind: number, i: number, from: StageChannel): Promise<tf.Tensor3D> {
    const began = performance.now();
    const data = await from.recv(tagOf(kind, i));
    this.profile.waitMs += performance.now() - began;
    return tf.tensor3d(data, [micro.rows, micro.seqLen, this.config.dModel]);
  }

  private async transmit(t: tf.Tensor3D, kind: number, i: number, to: StageChannel): Promise<void> {
    const data = Float32Array.from((await t.data<"float32">()) as Float32Array);
    tf.dispose(t);
    await to.send(data, tagOf(kind, i));
  }

  private async stepGradients(trainable: readonly tf.Tensor[], micro: readonly MicroBatch[], opts: (i: number) => ForwardOptions): Promise<{ grads: tf.Tensor[]; lossSum: number }> {
    const { place, shard, links } = this;
    // selective: the attention core's scores and probabilities are recomputed in backward (attention-core.ts).
    const withRecompute = (o: ForwardOptions): ForwardOptions => (this.options.gradientCheckpointing === "selective" ? { ...o, recomputeAttention: true } : o);
    const acts = new Map<number, MicroActs>();
    const acc: (tf.Tensor | undefined)[] = new Array<tf.Tensor | undefined>(trainable.length).fill(undefined);
    let lossSum = 0;
    const began = performance.now();
    try {
      for (const action of pipelineSchedule(this.options.schedule, place.pp, place.stage, micro.length)) {
        const i = action.micro;
        const mb = micro[i] as MicroBatch;
        if (action.kind === "forward") {
          const input = shard.first ? { tokens: inputTensor(mb) } : { x: await this.receive(mb, FORWARD, i, links.prev as StageChannel) };
          const { out, acts: a } = await this.stage.forward(trainable, input, withRecompute(opts(i)));
          acts.set(i, a);
          if (!shard.last) await this.transmit(out, FORWARD, i, links.next as StageChannel);
          continue;
        }
        const a = acts.get(i) as MicroActs;
        const upstream = shard.last ? { targets: targetTensor(mb) } : { dy: await this.receive(mb, BACKWARD, i, links.next as StageChannel) };
        acts.delete(i); // the backward frees them from here on
        const r = await this.stage.backward(trainable, a, upstream, withRecompute(opts(i)));
        if (r.loss !== undefined) lossSum += r.loss;
        if (r.dx !== undefined) await this.transmit(r.dx, BACKWARD, i, links.prev as StageChannel);
        for (const [j, g] of r.grads) {
          const prev = acc[j];
          if (prev === undefined) acc[j] = g;
          else {
            acc[j] = tf.add(prev, g);
            tf.dispose([prev, g]);
          }
        }
      }
      this.profile.steps++;
      this.profile.scheduleMs += performance.now() - began;
      const missing = acc.findIndex((g) => g === undefined);
      if (missing >= 0) throw new PartitionError(`stage ${place.stage}: ${shard.params[missing]?.name ?? "?"} got no gradient`, "parallelism.pipelineParallel");
      // The tied embedding: the first stage's lookup share plus the last stage's head share, on both copies.
      const tied = this.tiedWte;
      if (tied !== undefined && links.embedding !== undefined) {
        const [sum] = await allReduceTensors(links.embedding, [acc[tied] as tf.Tensor]);
        acc[tied] = sum;
      }
      // Only the last stage's first tensor rank contributes: every rank of the model group learns the same sum.
      const lossShare = shard.last && place.tpRank === 0 ? lossSum : 0;
      return { grads: acc as tf.Tensor[], lossSum: await sumOver(links.model, lossShare) };
    } catch (err) {
      tf.dispose(acc.filter((g): g is tf.Tensor => g !== undefined));
      for (const a of acts.values()) disposeActs(a);
      throw err;
    }
  }

  /** Σ over micro-batches of rows × mean loss, the same on every rank of the model group (forwards only, in order). */
  private async evalLossSum(trainable: readonly tf.Tensor[], micro: readonly MicroBatch[]): Promise<number> {
    const { shard, links, place } = this;
    let sum = 0;
    for (const [i, mb] of micro.entries()) {
      const input = shard.first ? { tokens: inputTensor(mb) } : { x: await this.receive(mb, FORWARD, i, links.prev as StageChannel) };
      const { out, acts } = await this.stage.forward(trainable, input, {});
      disposeActs({ ...acts, out: undefined });
      if (shard.last) sum += mb.rows * (await this.stage.loss(trainable, out, targetTensor(mb)));
      else await this.transmit(out, FORWARD, i, links.next as StageChannel);
    }
    return sumOver(links.model, shard.last && place.tpRank === 0 ? sum : 0);
  }
}
