import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allGatherStep, chunkBounds, planBuckets, reduceScatterStep, reductionOrder } from "../../src/collective/ring-schedule.js";

describe("bucket plan", () => {
  it("covers every element of every part exactly once, in order, in buckets of the given size", () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 40 }), { maxLength: 6 }), fc.integer({ min: 1, max: 16 }), (lengths, size) => {
        const buckets = planBuckets(lengths, size);
        const flat = buckets.flatMap((b) => b.segments.flatMap((s) => Array.from({ length: s.end - s.start }, (_, i) => `${s.part}:${s.start + i}`)));
        expect(flat).toEqual(lengths.flatMap((n, p) => Array.from({ length: n }, (_, i) => `${p}:${i}`)));
        buckets.forEach((b, i) => {
          expect(b.length).toBe(b.segments.reduce((a, s) => a + s.end - s.start, 0));
          if (i < buckets.length - 1) expect(b.length).toBe(size);
        });
      }),
    );
  });

  it("packs across part boundaries", () => {
    expect(planBuckets([3, 0, 4], 5)).toEqual([
      { segments: [{ part: 0, start: 0, end: 3 }, { part: 2, start: 0, end: 2 }], length: 5 },
      { segments: [{ part: 2, start: 2, end: 4 }], length: 2 },
    ]);
  });
});

describe("ring steps", () => {
  it("cuts a buffer into worldSize contiguous chunks, some empty when it is short", () => {
    expect([0, 1, 2, 3].map((c) => chunkBounds(2, 4, c))).toEqual([[0, 0], [0, 1], [1, 1], [1, 2]]);
    expect([0, 1, 2].map((c) => chunkBounds(10, 3, c))).toEqual([[0, 3], [3, 6], [6, 10]]);
  });

  it("simulated on symbols, reduce-scatter sums each chunk in the documented order and all-gather spreads it", () => {
    for (const n of [2, 3, 4, 5]) {
      // held[r][c]: the ranks whose values rank r has summed into chunk c, in order.
      const held = Array.from({ length: n }, (_, r) => Array.from({ length: n }, () => [r]));
      for (let step = 0; step < n - 1; step++) {
        const sent = held.map((chunks, r) => chunks[reduceScatterStep(r, n, step).send] as number[]);
        for (let r = 0; r < n; r++) {
          const { recv } = reduceScatterStep(r, n, step);
          expect(reduceScatterStep((r - 1 + n) % n, n, step).send).toBe(recv);
          (held[r] as number[][])[recv] = [...(sent[(r - 1 + n) % n] as number[]), r];
        }
      }
      for (let r = 0; r < n; r++) expect(held[r]?.[(r + 1) % n]).toEqual(reductionOrder((r + 1) % n, n));
      for (let step = 0; step < n - 1; step++) {
        const sent = held.map((chunks, r) => chunks[allGatherStep(r, n, step).send] as number[]);
        for (let r = 0; r < n; r++) (held[r] as number[][])[allGatherStep(r, n, step).recv] = sent[(r - 1 + n) % n] as number[];
      }
      for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) expect(held[r]?.[c]).toEqual(reductionOrder(c, n));
    }
  });
});
