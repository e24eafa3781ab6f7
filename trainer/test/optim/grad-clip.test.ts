import { describe, expect, it } from "vitest";
import { clipCoefficient, globalNorm } from "../../src/optim/grad-clip.js";

describe("global-norm clipping", () => {
  it("takes the L2 norm across every array, scaled", () => {
    expect(globalNorm([Float32Array.of(3), Float32Array.of(0, 4)])).toBe(5);
    expect(globalNorm([Float32Array.of(3), Float32Array.of(0, 4)], 0.5)).toBe(2.5);
  });

  it("scales a norm above the limit down to it and leaves one below alone", () => {
    expect(5 * clipCoefficient(5, 1)).toBeCloseTo(1, 6);
    expect(clipCoefficient(0.5, 1)).toBe(1);
  });

  it("is disabled by a limit of 0", () => {
    expect(clipCoefficient(1e6, 0)).toBe(1);
  });
});
