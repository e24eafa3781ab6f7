// The ring's arithmetic, pure: how a flat gradient is cut into buckets and chunks, and which chunk each rank sends and
// receives at each step. Fixing all of it makes the reduction order, and so the bytes of the result, a function of the
// part lengths and the world size alone.

/** A contiguous run of one part that belongs to a bucket. */
export interface Segment {
  part: number;
  start: number;
  end: number;
}

/** A bucket: consecutive elements of the parts laid end to end, at most `bucketElements` long. */
export interface Bucket {
  segments: Segment[];
  length: number;
}

/** Cuts the concatenation of parts (of these lengths) into buckets of `bucketElements`, the last one shorter. */
export function planBuckets(partLengths: readonly number[], bucketElements: number): Bucket[] {
  if (!Number.isInteger(bucketElements) || bucketElements < 1) throw new RangeError(`bucket size must be a positive number of elements, got ${bucketElements}`);
  const buckets: Bucket[] = [];
  let current: Bucket = { segments: [], length: 0 };
  partLengths.forEach((length, part) => {
    let start = 0;
    while (start < length) {
      const take = Math.min(length - start, bucketElements - current.length);
      current.segments.push({ part, start, end: start + take });
      current.length += take;
      start += take;
      if (current.length === bucketElements) {
        buckets.push(current);
        current = { segments: [], length: 0 };
      }
    }
  });
  if (current.length > 0) buckets.push(current);
  return buckets;
}

/** Elements [start, end) of chunk `chunk` when `length` elements are cut into `worldSize` nearly equal chunks. */
export function chunkBounds(length: number, worldSize: number, chunk: number): [number, number] {
  return [Math.floor((chunk * length) / worldSize), Math.floor(((chunk + 1) * length) / worldSize)];
}

const mod = (a: number, n: number) => ((a % n) + n) % n;

/**
 * Reduce-scatter step `step` (0 ≤ step < worldSize − 1): send chunk `send`, receive chunk `recv` and add it in.
 * Chunk c is summed in the order x_c + x_{c+1} + … + x_{c−1} (ranks mod worldSize), and ends complete on rank c − 1.
 */
export function reduceScatterStep(rank: number, worldSize: number, step: number): { send: number; recv: number } {
  return { send: mod(rank - step, worldSize), recv: mod(rank - step - 1, worldSize) };
}

/** All-gather step `step`: rank r starts holding the complete chunk r + 1, sends it on and receives the others. */
export function allGatherStep(rank: number, worldSize: number, step: number): { send: number; recv: number } {
  return { send: mod(rank + 1 - step, worldSize), recv: mod(rank - step, worldSize) };
}

/** Ranks in the order their values are added for chunk `chunk`: the documented reduction order. */
export function reductionOrder(chunk: number, worldSize: number): number[] {
  return Array.from({ length: worldSize }, (_, k) => mod(chunk + k, worldSize));
}

/** The block of the gathered array that rank r sends (`send`) and receives (`recv`) at all-gather step `step`. */
export function gatherBlockStep(rank: number, worldSize: number, step: number): { send: number; recv: number } {
  return { send: mod(rank - step, worldSize), recv: mod(rank - step - 1, worldSize) };
}

export const nextRank = (rank: number, worldSize: number): number => mod(rank + 1, worldSize);
export const prevRank = (rank: number, worldSize: number): number => mod(rank - 1, worldSize);
