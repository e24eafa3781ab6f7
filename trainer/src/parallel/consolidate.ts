// A checkpoint of a split model is written whole: the ranks of one model group (the tp × pp ranks of data-parallel
// index 0) all-gather their shards, and every member can put the full parameters and AdamW moments together in
// the single-rank layout. A checkpoint therefore loads into any layout (shardArrays takes its part), a single rank
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

/** The full model's state from this model group's shards; every member must call it. */
export async function consolidateState(config: ModelConfig, d: ParallelDegrees, rank: number, model: Collective, local: TrainerState): Promise<TrainerState> {
  const shards = modelGroupShards(config, d, rank);
  const mine = shards[model.rank] as StageShard;
  const gathered = model.worldSize === 1 ? [pack(mine, local)] : await model.allGather(pack(mine, local));
  const parts = gathered.map((flat, i) => unpack(shards[i] as StageShard, flat));
  const params = assembleArrays(config, shards, parts.map((p) => p.params));
  const moments = assembleArrays(config, shards, parts.map((p) => p.moments));
  const others = local.optimizer.filter((a) => !(a.data instanceof Float32Array));
  return { params, optimizer: [...moments, ...others] };
}
