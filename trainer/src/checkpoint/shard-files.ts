// A sharded (ZeRO) checkpoint's per-rank files, pure: names, the arrays in a shard file, and the receipt each rank
// writes after its shard so rank 0 can list it in the manifest without a collective.
//   step-00000100/optimizer-rank-00001-of-00004.safetensors   m, v [n] (this rank's flat slice), adamw.step; params [n] (ZeRO-3)
//   step-00000100/optimizer-rank-00001-of-00004.json          {saveId, bytes, sha256}: the receipt, never loaded
import { z } from "zod";
import type { NamedArray } from "./named-array.js";

export const SHARD_M = "m";
export const SHARD_V = "v";
export const SHARD_PARAMS = "params";
export const SHARD_STEP = "adamw.step";

const pad5 = (n: number): string => String(n).padStart(5, "0");

export function shardFileName(rank: number, worldSize: number): string {
  if (!Number.isInteger(rank) || !Number.isInteger(worldSize) || rank < 0 || rank >= worldSize) throw new RangeError(`rank ${rank} is not a rank of ${worldSize}`);
  return `optimizer-rank-${pad5(rank)}-of-${pad5(worldSize)}.safetensors`;
}

export const receiptName = (rank: number, worldSize: number): string => shardFileName(rank, worldSize).replace(/\.safetensors$/, ".json");

export const ShardReceipt = z.strictObject({
  /** Which save wrote it (the job attempt and step): a receipt left by an earlier attempt is not taken. */
  saveId: z.string().min(1),
  bytes: z.int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type ShardReceipt = z.output<typeof ShardReceipt>;

export interface ShardArrays {
  m: Float32Array;
  v: Float32Array;
  step: number;
  params?: Float32Array;
}

export function shardToArrays(s: ShardArrays): NamedArray[] {
  const out: NamedArray[] = [
    { name: SHARD_M, shape: [s.m.length], data: s.m },
    { name: SHARD_V, shape: [s.v.length], data: s.v },
    { name: SHARD_STEP, shape: [1], data: Int32Array.of(s.step) },
  ];
  if (s.params !== undefined) out.push({ name: SHARD_PARAMS, shape: [s.params.length], data: s.params });
  return out;
}

/** The arrays of a shard file, or a reason it is not one. */
export function arraysToShard(arrays: readonly NamedArray[]): ShardArrays | string {
  const get = (name: string) => arrays.find((a) => a.name === name);
  const m = get(SHARD_M)?.data;
  const v = get(SHARD_V)?.data;
  const step = get(SHARD_STEP)?.data;
  const params = get(SHARD_PARAMS)?.data;
  if (!(m instanceof Float32Array) || !(v instanceof Float32Array)) return "m and v must be float32 arrays";
  if (!(step instanceof Int32Array) || step.length !== 1) return "adamw.step must be one int32";
  if (params !== undefined && !(params instanceof Float32Array)) return "params must be float32";
  return { m, v, step: step[0] as number, ...(params === undefined ? {} : { params }) };
}
