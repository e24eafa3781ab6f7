// The 3D layout against Megatron's own example (initialize_model_parallel's docstring: 16 GPUs, TP 2, PP 4), and
// its laws over many shapes: coordinates round-trip, and every kind of group partitions the world.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  LayoutError,
  coordsOf,
  dataGroup,
  embeddingGroup,
  layoutLabel,
  modelGroup,
  parallelDegrees,
  pipelineGroup,
  rankOf,
  tensorGroup,
  type ParallelDegrees,
} from "../../src/parallel/layout.js";

const ranks = (n: number) => Array.from({ length: n }, (_, r) => r);
/** The distinct groups `group` assigns over the world, as sorted keys. */
const distinct = (d: ParallelDegrees, group: (d: ParallelDegrees, r: number) => number[]) =>
  [...new Set(ranks(d.dp * d.tp * d.pp).map((r) => JSON.stringify(group(d, r))))].map((s) => JSON.parse(s) as number[]).sort((a, b) => (a[0] as number) - (b[0] as number));

describe("Megatron's example: 16 GPUs, tensor 2, pipeline 4", () => {
  const d = parallelDegrees(16, 2, 4);

  it("derives data parallel 2", () => {
    expect(d).toEqual({ dp: 2, tp: 2, pp: 4 });
    expect(layoutLabel(d)).toBe("2x2x4");
  });

  it("has the docstring's 8 tensor groups", () => {
    expect(distinct(d, tensorGroup)).toEqual([[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11], [12, 13], [14, 15]]);
  });

  it("has the docstring's 8 data groups", () => {
    expect(distinct(d, dataGroup)).toEqual([[0, 2], [1, 3], [4, 6], [5, 7], [8, 10], [9, 11], [12, 14], [13, 15]]);
  });

  it("has the docstring's 4 pipeline groups, in stage order", () => {
    expect(distinct(d, pipelineGroup)).toEqual([[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15]]);
  });

  it("has 2 model groups (one replica each) and embedding groups of each pipeline's ends", () => {
    expect(distinct(d, modelGroup)).toEqual([[0, 1, 4, 5, 8, 9, 12, 13], [2, 3, 6, 7, 10, 11, 14, 15]]);
    expect(embeddingGroup(d, 0)).toEqual([0, 12]);
    expect(embeddingGroup(d, 13)).toEqual([1, 13]);
    expect(embeddingGroup(d, 15)).toEqual([3, 15]);
    for (const middle of [4, 5, 6, 7, 8, 9, 10, 11]) expect(embeddingGroup(d, middle)).toBeUndefined();
  });

  it("gives each rank its coordinates, tp fastest, then dp, then pp", () => {
    expect(coordsOf(d, 0)).toEqual({ dp: 0, tp: 0, pp: 0 });
    expect(coordsOf(d, 1)).toEqual({ dp: 0, tp: 1, pp: 0 });
    expect(coordsOf(d, 2)).toEqual({ dp: 1, tp: 0, pp: 0 });
    expect(coordsOf(d, 7)).toEqual({ dp: 1, tp: 1, pp: 1 });
    expect(coordsOf(d, 12)).toEqual({ dp: 0, tp: 0, pp: 3 });
    expect(rankOf(d, { dp: 1, tp: 0, pp: 2 })).toBe(10);
  });
});

describe("other shapes", () => {
  it("has no embedding group without a pipeline", () => {
    const d = parallelDegrees(8, 2, 1);
    expect(d).toEqual({ dp: 4, tp: 2, pp: 1 });
    for (const r of ranks(8)) expect(embeddingGroup(d, r)).toBeUndefined();
    expect(modelGroup(d, 5)).toEqual([4, 5]);
  });

  it("pairs first and last stage at pp = 2 (every rank is an end)", () => {
    const d = parallelDegrees(8, 2, 2);
    expect(ranks(8).map((r) => embeddingGroup(d, r))).toEqual([[0, 4], [1, 5], [2, 6], [3, 7], [0, 4], [1, 5], [2, 6], [3, 7]]);
  });
});

describe("laws", () => {
  const shapes = fc.record({ dp: fc.integer({ min: 1, max: 5 }), tp: fc.integer({ min: 1, max: 5 }), pp: fc.integer({ min: 1, max: 5 }) });

  it("rankOf inverts coordsOf, and parallelDegrees recovers the shape from its world size", () => {
    fc.assert(
      fc.property(shapes, (s) => {
        const d = parallelDegrees(s.dp * s.tp * s.pp, s.tp, s.pp);
        expect(d).toEqual(s);
        for (const r of ranks(s.dp * s.tp * s.pp)) {
          const c = coordsOf(d, r);
          expect(rankOf(d, c)).toBe(r);
          expect(c.tp < d.tp && c.dp < d.dp && c.pp < d.pp).toBe(true);
        }
      }),
    );
  });

  it("every kind of group partitions the world, contains its rank, and sits at the rank's own coordinate", () => {
    fc.assert(
      fc.property(shapes, (s) => {
        const d: ParallelDegrees = s;
        const world = s.dp * s.tp * s.pp;
        const kinds: [(d: ParallelDegrees, r: number) => number[], number, keyof ParallelDegrees | undefined][] = [
          [tensorGroup, s.tp, "tp"],
          [dataGroup, s.dp, "dp"],
          [pipelineGroup, s.pp, "pp"],
          [modelGroup, s.tp * s.pp, undefined],
        ];
        for (const [group, size, axis] of kinds) {
          const groups = distinct(d, group);
          expect(groups.length * size).toBe(world);
          expect(groups.flat().sort((a, b) => a - b)).toEqual(ranks(world));
          for (const r of ranks(world)) {
            const g = group(d, r);
            expect(g.length).toBe(size);
            if (axis === undefined) expect(g).toContain(r);
            else expect(g[coordsOf(d, r)[axis]]).toBe(r);
          }
        }
        for (const r of ranks(world)) {
          const e = embeddingGroup(d, r);
          const pp = coordsOf(d, r).pp;
          if (s.pp === 1 || (pp > 0 && pp < s.pp - 1)) expect(e).toBeUndefined();
          else expect(e).toEqual([pipelineGroup(d, r)[0], pipelineGroup(d, r)[s.pp - 1]]);
        }
      }),
    );
  });
});

describe("errors", () => {
  it("names the field when tp · pp does not divide the world", () => {
    const err = (() => {
      try {
        parallelDegrees(12, 4, 2);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(LayoutError);
    expect((err as LayoutError).field).toBe("parallelism.tensorParallel");
    expect((err as LayoutError).message).toContain("4 × 2 = 8 does not divide the world of 12");
  });

  it("refuses non-positive or fractional degrees and ranks out of range", () => {
    expect(() => parallelDegrees(8, 0, 1)).toThrow(expect.objectContaining({ field: "parallelism.tensorParallel" }) as Error);
    expect(() => parallelDegrees(8, 2, 1.5)).toThrow(expect.objectContaining({ field: "parallelism.pipelineParallel" }) as Error);
    expect(() => parallelDegrees(0, 1, 1)).toThrow(LayoutError);
    const d = parallelDegrees(8, 2, 2);
    expect(() => coordsOf(d, 8)).toThrow(expect.objectContaining({ field: "rank" }) as Error);
    expect(() => rankOf(d, { dp: 0, tp: 2, pp: 0 })).toThrow(LayoutError);
  });
});
