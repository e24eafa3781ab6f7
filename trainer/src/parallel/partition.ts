// How tensor and pipeline parallelism cut the model, pure: which layers a stage runs, which heads, MLP columns and
// vocabulary rows a tensor-parallel rank holds, and every local tensor as a slice of the full one (so a checkpoint can
// be taken apart for any layout and put back together from any layout). Megatron's split: Q/K/V and the MLP's up
// projection by columns, the attention output and the MLP's down projection by rows, the embedding and LM head by
// vocabulary; LayerNorms, the row-parallel biases and the position table are replicated.
import type { NamedArray } from "../checkpoint/named-array.js";
import { ADAMW_STEP_NAME } from "../optim/adamw.js";
import { headDim, type ModelConfig } from "../model/model-config.js";
import { paramLayout, type ParamSpec } from "../model/param-layout.js";

/** Where one rank sits in the model-parallel grid: tensor rank of tp, stage of pp. */
export interface ModelPlace {
  tp: number;
  pp: number;
  tpRank: number;
  stage: number;
}

/** [start, end) of part i when n items are split into `parts` nearly equal runs (earlier parts are never larger). */
export function balancedRange(n: number, parts: number, i: number): [number, number] {
  return [Math.floor((i * n) / parts), Math.floor(((i + 1) * n) / parts)];
}

/** Part of a full tensor: rows (axis 0) or columns (axis 1) [start, end); absent = the whole tensor. */
export interface SliceOf {
  axis: 0 | 1;
  start: number;
  end: number;
}

export interface LocalParam extends ParamSpec {
  /** The full tensor's shape (shape is the local one). */
  fullShape: number[];
  slice?: SliceOf;
  /** This rank's copy counts in the global gradient norm and is what a checkpoint keeps (replicas and the tied copy do not). */
  primary: boolean;
  /** The last stage's copy of the tied token embedding (the LM head), kept in step with the first stage's. */
  tiedCopy: boolean;
}

export interface StageShard {
  place: ModelPlace;
  /** Blocks [start, end) this stage runs. */
  layers: [number, number];
  first: boolean;
  last: boolean;
  /** Query heads [start, end) of this tensor rank. */
  heads: [number, number];
  /** KV heads [start, end) when kvHeads splits over tp; undefined when K and V are replicated (tp does not divide kvHeads). */
  kvHeads: [number, number] | undefined;
  /** MLP hidden columns [start, end). */
  hidden: [number, number];
  /** Vocabulary rows [start, end) of the embedding and LM head. */
  vocab: [number, number];
  /** This rank's tensors, in the full layout's order (the tied copy last). */
  params: LocalParam[];
}

export class PartitionError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(`${field}: ${message}`);
    this.name = "PartitionError";
  }
}

const blockOf = (name: string): number | undefined => {
  const m = /^h\.(\d+)\./.exec(name);
  return m === null ? undefined : Number(m[1]);
};

/** The shard of `config` that (tpRank, stage) holds. */
export function stageShard(config: ModelConfig, place: ModelPlace): StageShard {
  const { tp, pp, tpRank, stage } = place;
  if (config.heads % tp !== 0) throw new PartitionError(`${tp} does not divide model.heads ${config.heads}`, "parallelism.tensorParallel");
  if (pp > config.layers) throw new PartitionError(`${pp} stages exceed model.layers ${config.layers}`, "parallelism.pipelineParallel");
  if (config.hidden < tp || config.vocabSize < tp) throw new PartitionError(`${tp} exceeds the MLP width or the vocabulary`, "parallelism.tensorParallel");
  const hd = headDim(config);
  const layers = balancedRange(config.layers, pp, stage);
  const heads = balancedRange(config.heads, tp, tpRank);
  const kvHeads = config.kvHeads % tp === 0 ? balancedRange(config.kvHeads, tp, tpRank) : undefined;
  const hidden = balancedRange(config.hidden, tp, tpRank);
  const vocab = balancedRange(config.vocabSize, tp, tpRank);
  const first = stage === 0;
  const last = stage === pp - 1;
  const params: LocalParam[] = [];
  const add = (spec: ParamSpec, slice: SliceOf | undefined, extra: Partial<LocalParam> = {}) => {
    const shape = [...spec.shape];
    if (slice !== undefined) shape[slice.axis] = slice.end - slice.start;
    params.push({ ...spec, shape, fullShape: [...spec.shape], ...(slice === undefined ? {} : { slice }), primary: slice !== undefined || tpRank === 0, tiedCopy: false, ...extra });
  };
  const rows = (r: [number, number], scale = 1): SliceOf => ({ axis: 0, start: r[0] * scale, end: r[1] * scale });
  const cols = (r: [number, number], scale = 1): SliceOf => ({ axis: 1, start: r[0] * scale, end: r[1] * scale });
  let wte: ParamSpec | undefined;
  for (const spec of paramLayout(config)) {
    const layer = blockOf(spec.name);
    if (layer !== undefined) {
      if (layer < layers[0] || layer >= layers[1]) continue;
      const field = spec.name.slice(spec.name.indexOf(".", 2) + 1);
      switch (field) {
        case "attn.q":
          add(spec, cols(heads, hd));
          break;
        case "attn.q_b":
          add(spec, rows(heads, hd));
          break;
        case "attn.k":
        case "attn.v":
          // Replicated (tp does not divide kvHeads): each rank's gradient is partial, summed in the attention's f.
          if (kvHeads === undefined) add(spec, undefined);
          else add(spec, cols(kvHeads, hd));
          break;
        case "attn.k_b":
        case "attn.v_b":
          if (kvHeads === undefined) add(spec, undefined);
          else add(spec, rows(kvHeads, hd));
          break;
        case "attn.o":
          add(spec, rows(heads, hd));
          break;
        case "mlp.fc":
        case "mlp.gate":
          add(spec, cols(hidden));
          break;
        case "mlp.fc_b":
        case "mlp.proj":
          add(spec, rows(hidden));
          break;
        default: // LayerNorms, attn.o_b, mlp.proj_b: replicated
          add(spec, undefined);
      }
      continue;
    }
    if (spec.name === "wte") {
      wte = spec;
      if (first) add(spec, rows(vocab));
    } else if (spec.name === "wpe") {
      if (first) add(spec, undefined);
    } else if (spec.name === "lm_head") {
      if (last) add(spec, cols(vocab));
    } else if (last) add(spec, undefined); // ln_f
  }
  if (config.tieEmbeddings && last && !first && wte !== undefined) add(wte, rows(vocab), { primary: false, tiedCopy: true });
  return { place, layers, first, last, heads, kvHeads, hidden, vocab, params };
}

/** The local part of a full array (row-major). */
export function sliceArray(full: Float32Array, fullShape: readonly number[], slice: SliceOf | undefined): Float32Array {
  if (slice === undefined) return full.slice();
  const rows = fullShape[0] ?? 1;
  const width = fullShape.length > 1 ? full.length / rows : 1;
  if (slice.axis === 0) return full.slice(slice.start * width, slice.end * width);
  const n = slice.end - slice.start;
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) out.set(full.subarray(r * width + slice.start, r * width + slice.end), r * n);
  return out;
}

/** Writes a local part back into its place in the full array. */
export function placeArray(full: Float32Array, fullShape: readonly number[], slice: SliceOf | undefined, local: Float32Array): void {
  if (slice === undefined) {
    full.set(local);
    return;
  }
  const rows = fullShape[0] ?? 1;
  const width = fullShape.length > 1 ? full.length / rows : 1;
  if (slice.axis === 0) {
    full.set(local, slice.start * width);
    return;
  }
  const n = slice.end - slice.start;
  for (let r = 0; r < rows; r++) full.set(local.subarray(r * n, (r + 1) * n), r * width + slice.start);
}

/** Optimizer state names the moments m.<param> and v.<param>; anything else (the step counter) is whole. */
const MOMENT = /^([mv])\.(.+)$/;

/**
 * This shard's part of full named arrays (parameters, or optimizer state): each local tensor under its own name,
 * moments under m./v. of theirs, other entries (the step counter) as they are. Missing names are the caller's to catch.
 */
export function shardArrays(shard: StageShard, full: readonly NamedArray[]): NamedArray[] {
  const byName = new Map(full.map((a) => [a.name, a]));
  const local = new Map(shard.params.map((p) => [p.name, p]));
  const out: NamedArray[] = [];
  const take = (name: string, p: LocalParam) => {
    const a = byName.get(name);
    if (a === undefined) throw new PartitionError("missing from the checkpoint", name);
    if (!(a.data instanceof Float32Array)) throw new PartitionError("must be float32", name);
    out.push({ name, shape: [...p.shape], data: sliceArray(a.data, p.fullShape, p.slice) });
  };
  const params = full.every((a) => !MOMENT.test(a.name) && a.name !== ADAMW_STEP_NAME);
  if (params) {
    for (const p of shard.params) take(p.name, p);
    return out;
  }
  for (const a of full) {
    const m = MOMENT.exec(a.name);
    if (m === null) {
      out.push({ name: a.name, shape: [...a.shape], data: a.data.slice() });
      continue;
    }
    const p = local.get(m[2] as string);
    if (p !== undefined) take(a.name, p);
  }
  return out;
}

/**
 * Full named arrays from every model-parallel rank's local ones: `parts[i]` is shard `shards[i]`'s arrays (as
 * shardArrays names them). Only primary copies are read, so replicas and the tied copy never double-write.
 */
export function assembleArrays(config: ModelConfig, shards: readonly StageShard[], parts: readonly (readonly NamedArray[])[]): NamedArray[] {
  const full = new Map<string, NamedArray>();
  const order: string[] = [];
  const target = (name: string, shape: readonly number[]): NamedArray => {
    let a = full.get(name);
    if (a === undefined) {
      a = { name, shape: [...shape], data: new Float32Array(shape.reduce((x, y) => x * y, 1)) };
      full.set(name, a);
      order.push(name);
    }
    return a;
  };
  shards.forEach((shard, i) => {
    const local = new Map(shard.params.map((p) => [p.name, p]));
    for (const a of parts[i] ?? []) {
      const m = MOMENT.exec(a.name);
      const p = local.get(m === null ? a.name : (m[2] as string));
      if (p === undefined) {
        if (!full.has(a.name)) {
          full.set(a.name, { name: a.name, shape: [...a.shape], data: a.data.slice() });
          order.push(a.name);
        }
        continue;
      }
      if (!p.primary) continue;
      placeArray(target(a.name, p.fullShape).data as Float32Array, p.fullShape, p.slice, a.data as Float32Array);
    }
  });
  // Back in the full layout's order (moments and the step counter after, as AdamW exports them).
  const rank = new Map(paramLayout(config).map((p, i) => [p.name, i]));
  const key = (name: string): [number, number] => {
    const m = MOMENT.exec(name);
    if (m === null) return [rank.has(name) ? 0 : 3, rank.get(name) ?? 0];
    return [m[1] === "m" ? 1 : 2, rank.get(m[2] as string) ?? 0];
  };
  return order
    .map((n) => full.get(n) as NamedArray)
    .sort((a, b) => {
      const [ka, ia] = key(a.name);
      const [kb, ib] = key(b.name);
      return ka - kb || ia - ib;
    });
}
