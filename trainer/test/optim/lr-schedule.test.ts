import { describe, expect, it } from "vitest";
import { learningRate, type LrSchedule } from "../../src/optim/lr-schedule.js";

const base: LrSchedule = { type: "cosine", peakLr: 1, warmupSteps: 4, minLrRatio: 0.1, totalSteps: 14 };

describe("learningRate", () => {
  it("warms up linearly to the peak", () => {
    expect([0, 1, 2, 3].map((s) => learningRate(base, s))).toEqual([0.25, 0.5, 0.75, 1]);
  });

  it("decays by a half cosine to minLrRatio at totalSteps, then holds", () => {
    expect(learningRate(base, 4)).toBe(1);
    expect(learningRate(base, 9)).toBeCloseTo(0.55, 12); // halfway: min + (peak − min)/2
    expect(learningRate(base, 14)).toBeCloseTo(0.1, 12);
    expect(learningRate(base, 100)).toBeCloseTo(0.1, 12);
  });

  it("decays linearly, or not at all", () => {
    const linear = { ...base, type: "linear" as const };
    expect(learningRate(linear, 9)).toBeCloseTo(0.55, 12);
    expect(learningRate(linear, 6.5)).toBeCloseTo(1 - 0.9 * 0.25, 12);
    const constant = { ...base, type: "constant" as const };
    expect([3, 4, 13, 99].map((s) => learningRate(constant, s))).toEqual([1, 1, 1, 1]);
  });

  it("starts at the peak without warmup", () => {
    expect(learningRate({ ...base, warmupSteps: 0 }, 0)).toBe(1);
  });
});
