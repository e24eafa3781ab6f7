// The attempt's data × tensor × pipeline layout, and the worker count an elastic attempt shrinks to.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { elasticWorkers } from "../src/core/elastic-size.js";
import { LayoutError, layoutFits, layoutProblem, parallelLayout, type LayoutSpec } from "../src/core/layout.js";

interface Shape {
  gpus: number;
  tp?: number;
  pp?: number;
  batch?: number;
  micro?: number;
}

function spec({ gpus, tp = 1, pp = 1, batch = 32, micro = 8 }: Shape): LayoutSpec {
  return {
    resources: { gpusPerWorker: gpus } as LayoutSpec["resources"],
    parallelism: { tensorParallel: tp, pipelineParallel: pp, zeroStage: 0, gradientCheckpointing: "none", pipelineSchedule: "1f1b", colocateTensorParallel: false },
    training: { globalBatchSize: batch, microBatchSize: micro } as LayoutSpec["training"],
  };
}

const elastic = (shape: Shape, minWorkers: number, maxWorkers: number) => ({ ...spec(shape), elastic: { minWorkers, maxWorkers } });

describe("parallelLayout", () => {
  const table: Array<[string, Shape, number, string]> = [
    ["CPU workers, data-parallel", { gpus: 0 }, 4, "4x1x1"],
    ["one GPU per worker", { gpus: 1 }, 4, "4x1x1"],
    ["2 workers × 4 GPUs, TP 2, PP 2", { gpus: 4, tp: 2, pp: 2, batch: 16, micro: 4 }, 2, "2x2x2"],
    ["1 worker × 8 GPUs, TP 4", { gpus: 8, tp: 4, batch: 16, micro: 8 }, 1, "2x4x1"],
    ["4 workers × 2 GPUs, TP 4 across pods", { gpus: 2, tp: 4, batch: 16, micro: 8 }, 4, "2x4x1"],
    ["pipeline only", { gpus: 1, pp: 4, batch: 8, micro: 8 }, 4, "1x1x4"],
  ];
  for (const [name, shape, workers, layout] of table) {
    it(`${name}: ${layout}`, () => {
      const out = parallelLayout(spec(shape), workers);
      expect(out.layout).toBe(layout);
      expect(out.dataParallel * out.tensorParallel * out.pipelineParallel).toBe(workers * Math.max(shape.gpus, 1));
      expect([out.tensorParallel, out.pipelineParallel]).toEqual([shape.tp ?? 1, shape.pp ?? 1]);
    });
  }

  it("refuses ranks that TP × PP does not divide, naming the numbers", () => {
    const problem = layoutProblem(spec({ gpus: 1, tp: 2 }), 3);
    expect(problem).toBeInstanceOf(LayoutError);
    expect(problem).toMatchObject({ workers: 3, ranks: 3, reason: "model-parallel" });
    expect(problem?.message).toBe("tensorParallel × pipelineParallel = 2 does not divide 3 ranks (3 workers)");
    expect(() => parallelLayout(spec({ gpus: 1, tp: 2 }), 3)).toThrow(LayoutError);
  });

  it("refuses a data-parallel degree the batch does not divide", () => {
    // 6 ranks / TP 2 = DP 3, and 32 is not a multiple of 8 × 3.
    expect(layoutProblem(spec({ gpus: 2, tp: 2 }), 3)).toMatchObject({ reason: "batch", ranks: 6 });
    expect(layoutProblem(spec({ gpus: 2, tp: 2 }), 3)?.message).toContain("globalBatchSize 32 is not a multiple of microBatchSize 8 × 3 data-parallel ranks");
  });

  it("refuses zero workers", () => {
    expect(layoutProblem(spec({ gpus: 1 }), 0)).toMatchObject({ reason: "no-workers" });
    expect(layoutFits(spec({ gpus: 1 }), 0)).toBe(false);
  });
});

describe("elasticWorkers", () => {
  it("takes the largest count the layout allows, skipping those TP or the batch refuse", () => {
    // TP 2 on 1-GPU workers needs an even count; 6 workers give DP 3, which does not divide 32 / 8.
    const s = elastic({ gpus: 1, tp: 2, micro: 4 }, 2, 8);
    expect(elasticWorkers(s, 8)).toBe(8);
    expect(elasticWorkers(s, 7)).toBe(4);
    expect(elasticWorkers(s, 6)).toBe(4);
    expect(elasticWorkers(s, 3)).toBe(2);
  });

  it("never goes above maxWorkers or below minWorkers", () => {
    expect(elasticWorkers(elastic({ gpus: 1 }, 2, 4), 20)).toBe(4);
    expect(elasticWorkers(elastic({ gpus: 1 }, 2, 4), 1)).toBeUndefined();
    // 3 is the minimum but TP 4 needs 4 ranks: nothing valid between 3 and 3.
    expect(elasticWorkers(elastic({ gpus: 1, tp: 4 }, 3, 4), 3)).toBeUndefined();
  });

  it("is undefined for a job that is not elastic", () => {
    expect(elasticWorkers(spec({ gpus: 1 }), 3)).toBeUndefined();
  });

  it("agrees with the definition on random shapes: the largest valid count in range, or none", () => {
    const pow2 = fc.constantFrom(1, 2, 4, 8);
    fc.assert(
      fc.property(
        fc.record({ gpus: fc.constantFrom(0, 1, 2, 4, 8), tp: pow2, pp: pow2, batch: fc.integer({ min: 1, max: 256 }), micro: fc.integer({ min: 1, max: 16 }) }),
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 0, max: 16 }),
        fc.integer({ min: 0, max: 24 }),
        (shape, min, span, available) => {
          const s = elastic(shape, min, min + span);
          const tp = shape.tp;
          const valid = (n: number) => {
            const ranks = n * Math.max(shape.gpus, 1);
            return ranks % (tp * shape.pp) === 0 && shape.batch % (shape.micro * (ranks / (tp * shape.pp))) === 0;
          };
          const inRange = Array.from({ length: span + 1 }, (_, i) => min + i).filter((n) => n <= available && valid(n));
          expect(elasticWorkers(s, available)).toBe(inRange.length > 0 ? Math.max(...inRange) : undefined);
        },
      ),
      { numRuns: 300 },
    );
  });
});
