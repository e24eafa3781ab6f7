// A checkpoint of a split model is written whole: the ranks of one model group (the tp × pp ranks of data-parallel
// index 0) all-gather their shards in pieces of at most GATHER_FLOATS (a frame stays far below its 2 GiB limit), and
// the group's rank 0 puts the full parameters and AdamW moments together in the single-rank layout. A checkpoint therefore loads into any layout (shardArrays takes its part), a single rank
// included; the manifest records the layout it was saved from.
import type { NamedArray } from "../checkpoint/named-array.js";
import type { Collective } from "../collective/collective.js";
import type { ModelConfig } from "../model/model-config.js";
import { matchNamedArrays } from "../model/param-io.js";
import type { TrainerState } from "../train/trainer.js";
import { coordsOf, modelGroup, type ParallelDegrees } from "./layout.js";
import { assembleArrays, stageShard, type StageShard } from "./partition.js";

/** The shard every member of `rank`'s model group holds, in the group's rank order. */
export function modelGroupShards(config: ModelConfig, d: ParallelDegrees, rank: number): StageShard[] {
  return modelGroup(d, rank).map((r) => {
    const c = coordsOf(d, r);
    return stageShard(config, { tp: d.tp, pp: d.pp, tpRank: c.tp, stage: c.pp });
  });
}

/** Parameters, then m and v, of one shard, end to end in the shard's tensor order. */
function pack(shard: StageShard, state: TrainerState): Float32Array {
  const expected = [
    ...shard.params,
    ...shard.params.map((p) => ({ name: `m.${p.name}`, shape: p.shape })),
    ...shard.params.map((p) => ({ name: `v.${p.name}`, shape: p.shape })),
  ];
  const arrays = matchNamedArrays(expected, [...state.params, ...state.optimizer.filter((a) => a.data instanceof Float32Array)]);
  const out = new Float32Array(arrays.reduce((n, a) => n + a.data.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a.data, at);
    at += a.data.length;
  }
  return out;
}

function unpack(shard: StageShard, flat: Float32Array): { params: NamedArray[]; moments: NamedArray[] } {
  let at = 0;
  const take = (name: string, shape: number[]): NamedArray => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = flat.slice(at, at + n);
    at += n;
    return { name, shape: [...shape], data };
  };
  const params = shard.params.map((p) => take(p.name, p.shape));
  const moments = [...shard.params.map((p) => take(`m.${p.name}`, p.shape)), ...shard.params.map((p) => take(`v.${p.name}`, p.shape))];
  if (at !== flat.length) throw new RangeError(`a shard of ${flat.length} floats does not match its plan (${at})`);
  return { params, moments };
}

/** 64 Mi floats (256 MiB) per all-gather piece. */
export const GATHER_FLOATS = 64 * 1024 * 1024;

const shardFloats = (s: StageShard): number => 3 * s.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);

/** Every member's packed shard, gathered piece by piece; the piece count follows from the plans, so all ranks agree. */
async function gatherShards(model: Collective, shards: readonly StageShard[], mine: Float32Array, pieceFloats: number): Promise<Float32Array[]> {
  if (model.worldSize === 1) return [mine];
  const out = shards.map((s) => new Float32Array(shardFloats(s)));
  const pieces = Math.max(1, ...out.map((o) => Math.ceil(o.length / pieceFloats)));
  for (let k = 0; k < pieces; k++) {
    const got = await model.allGather(mine.subarray(Math.min(mine.length, k * pieceFloats), Math.min(mine.length, (k + 1) * pieceFloats)));
    got.forEach((g, i) => g.length > 0 && (out[i] as Float32Array).set(g, k * pieceFloats));
  }
  return out;
}

/**
 * The full model's state from this model group's shards on the group's rank 0 (undefined on the others, which only
 * send); every member must call it.
 */
export async function consolidateState(config: ModelConfig, d: ParallelDegrees, rank: number, model: Collective, local: TrainerState, pieceFloats = GATHER_FLOATS): Promise<TrainerState | undefined> {
  const shards = modelGroupShards(config, d, rank);
  const mine = shards[model.rank] as StageShard;
  const gathered = await gatherShards(model, shards, pack(mine, local), pieceFloats);
  if (model.rank !== 0) return undefined;
  const parts = gathered.map((flat, i) => unpack(shards[i] as StageShard, flat));
  const params = assembleArrays(config, shards, parts.map((p) => p.params));
  const moments = assembleArrays(config, shards, parts.map((p) => p.moments));
  const others = local.optimizer.filter((a) => !(a.data instanceof Float32Array));
  return { params, optimizer: [...moments, ...others] };
}
