// Where each value lives under ZeRO: the trainable tensors laid end to end in their fixed order, then two slots for
// the step's loss and micro-batch count. That is exactly the buffer plain DP all-reduces, so ZeRO takes the ring's
// chunks of it as the shards: rank r owns chunk r + 1 (mod N), balanced to one element, and summed in the same rank
// order as plain DP's all-reduce of a one-bucket buffer (bitwise equal results). Shards cut tensors where they fall;
// a tensor-aligned cut would unbalance small models and change the reduction order. Pure.
import type { Range } from "../collective/collective.js";
import { chunkBounds } from "../collective/ring-schedule.js";
import { decays } from "../optim/weight-decay.js";

/** The loss and the micro-batch count ride after the gradients, as in plain DP's single all-reduce. */
export const STAT_SLOTS = 2;

export interface FlatTensor {
  /** Position in the trainable list. */
  index: number;
  name: string;
  shape: number[];
  /** First element in the flat buffer. */
  offset: number;
  size: number;
  /** AdamW decays it (matrices). */
  decay: boolean;
}

export interface FlatLayout {
  tensors: FlatTensor[];
  /** Trainable elements Ψ. */
  params: number;
  /** Ψ + STAT_SLOTS: the length of the reduced buffer, and of what the shards cut. */
  slots: number;
}

export function flatLayout(specs: readonly { name: string; shape: readonly number[] }[]): FlatLayout {
  let offset = 0;
  const tensors = specs.map((s, index) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const t: FlatTensor = { index, name: s.name, shape: [...s.shape], offset, size, decay: decays(s.shape) };
    offset += size;
    return t;
  });
  return { tensors, params: offset, slots: offset + STAT_SLOTS };
}

/** owned[r]: the slots rank r owns, the ring's chunk r + 1. With one rank, everything. */
export function shardRanges(slots: number, worldSize: number): Range[] {
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new RangeError(`world size must be a positive integer, got ${worldSize}`);
  return Array.from({ length: worldSize }, (_, r) => chunkBounds(slots, worldSize, (r + 1) % worldSize));
}

export const rangeLength = ([s, e]: Range): number => e - s;

/** a ∩ b; when empty, an empty range inside b (so it still addresses a buffer of b). */
export function intersect([a0, a1]: Range, [b0, b1]: Range): Range {
  const s = Math.min(Math.max(a0, b0), b1);
  return [s, Math.max(s, Math.min(a1, b1))];
}

/** `r` moved by `delta` (to address a sub-buffer that starts at −delta). */
export const shift = ([s, e]: Range, delta: number): Range => [s + delta, e + delta];

/** A contiguous piece of one tensor inside a shard. */
export interface ShardSegment {
  tensor: FlatTensor;
  /** First element within the tensor. */
  from: number;
  /** First element in the flat buffer. */
  flatStart: number;
  length: number;
}

/** The tensor pieces that make up `range` (stat slots excluded), in flat order. */
export function segmentsIn(layout: FlatLayout, range: Range): ShardSegment[] {
  const out: ShardSegment[] = [];
  for (const t of layout.tensors) {
    const [s, e] = intersect(range, [t.offset, t.offset + t.size]);
    if (e > s) out.push({ tensor: t, from: s - t.offset, flatStart: s, length: e - s });
  }
  return out;
}

/** Parameter elements (not stat slots) in `range`. */
export const paramsIn = (layout: FlatLayout, range: Range): number => rangeLength(intersect(range, [0, layout.params]));
