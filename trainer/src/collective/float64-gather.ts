// Small float64 values (norms, loss sums, step records) through a Float32Array collective: the float64 words travel
// as float32 bit patterns, and same-type copies keep the bytes, so every rank gets every other rank's exact values.
import type { Collective } from "./collective.js";

/** Every rank's `values`, indexed by rank. */
export async function allGatherFloat64(collective: Collective, values: Float64Array): Promise<Float64Array[]> {
  const gathered = await collective.allGather(new Float32Array(values.buffer, values.byteOffset, values.length * 2));
  return gathered.map((g) => new Float64Array(new Float32Array(g).buffer));
}
