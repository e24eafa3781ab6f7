// Puts every rank's shard back together into the full, by-name state plain DP exports (m.<name>, v.<name>,
// adamw.step, and the parameters under ZeRO-3), so a checkpoint written at one stage and world size loads at any
// other: each trainer then takes its own shard of it. Pure.
import type { NamedArray } from "../checkpoint/named-array.js";
import type { Range } from "../collective/collective.js";
import { ADAMW_STEP_NAME } from "../optim/adamw.js";
import type { FlatLayout } from "./shard-layout.js";

export interface MomentPiece {
  /** Parameter elements [start, end) of the flat layout. */
  range: Range;
  m: Float32Array;
  v: Float32Array;
  step: number;
  params?: Float32Array;
}

export class ShardAssemblyError extends Error {
  constructor(
    message: string,
    readonly shard?: number,
  ) {
    super(shard === undefined ? message : `shard ${shard}: ${message}`);
    this.name = "ShardAssemblyError";
  }
}

export interface AssembledState {
  optimizer: NamedArray[];
  /** Present when every shard carried its parameters (ZeRO-3). */
  params?: NamedArray[];
}

export function assembleShards(layout: FlatLayout, shards: readonly MomentPiece[]): AssembledState {
  const first = shards[0];
  if (first === undefined) throw new ShardAssemblyError("no shards");
  const sorted = shards.map((s, i) => ({ s, i })).sort((a, b) => a.s.range[0] - b.s.range[0]);
  let at = 0;
  for (const { s, i } of sorted) {
    const [start, end] = s.range;
    if (start !== at) throw new ShardAssemblyError(start > at ? `elements [${at}, ${start}) are in no shard` : `overlaps the previous shard at ${start}`, i);
    const n = end - start;
    if (s.m.length !== n || s.v.length !== n || (s.params !== undefined && s.params.length !== n)) throw new ShardAssemblyError(`range [${start}, ${end}) but arrays of ${s.m.length}`, i);
    if (s.step !== first.step) throw new ShardAssemblyError(`at optimizer step ${s.step}, shard 0 at ${first.step}`, i);
    at = end;
  }
  if (at !== layout.params) throw new ShardAssemblyError(`the shards cover ${at} of ${layout.params} parameters`);
  const flat = (pick: (s: MomentPiece) => Float32Array): Float32Array => {
    const out = new Float32Array(layout.params);
    for (const { s } of sorted) out.set(pick(s), s.range[0]);
    return out;
  };
  const named = (prefix: string, data: Float32Array): NamedArray[] =>
    layout.tensors.map((t) => ({ name: `${prefix}${t.name}`, shape: [...t.shape], data: data.slice(t.offset, t.offset + t.size) }));
  const optimizer = [...named("m.", flat((s) => s.m)), ...named("v.", flat((s) => s.v)), { name: ADAMW_STEP_NAME, shape: [1], data: Int32Array.of(first.step) }];
  const withParams = shards.every((s) => s.params !== undefined);
  return withParams ? { optimizer, params: named("", flat((s) => s.params as Float32Array)) } : { optimizer };
}
