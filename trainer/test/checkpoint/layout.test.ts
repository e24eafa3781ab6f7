import { describe, expect, it } from "vitest";
import { groupSteps, parseStepDirName, planRetention, stepDirName } from "../../src/checkpoint/layout.js";

describe("checkpoint layout", () => {
  it("zero-pads step directories so that they sort by step, and parses them back", () => {
    expect(stepDirName(100)).toBe("step-00000100");
    expect([900, 1000, 20].map(stepDirName).sort()).toEqual(["step-00000020", "step-00000900", "step-00001000"]);
    expect(parseStepDirName("step-00000100\n")).toBe(100);
    expect(parseStepDirName("step-100")).toBeUndefined();
    expect(() => stepDirName(-1)).toThrow(RangeError);
  });

  it("groups a listing by step, newest first, committed only with a manifest", () => {
    const steps = groupSteps(["latest", "step-00000010/model.safetensors", "step-00000010/manifest.json", "step-00000020/model.safetensors", "other/x"]);
    expect(steps).toEqual([
      { step: 20, keys: ["step-00000020/model.safetensors"], committed: false },
      { step: 10, keys: ["step-00000010/model.safetensors", "step-00000010/manifest.json"], committed: true },
    ]);
  });

  it("keeps the newest K committed steps, drops older leftovers, and leaves newer uncommitted ones", () => {
    const s = (step: number, committed: boolean) => ({ step, keys: [`${stepDirName(step)}/x`], committed });
    const listing = [s(60, false), s(50, true), s(40, true), s(35, false), s(30, true), s(20, true)];
    expect(planRetention(listing, 50, 2).map((d) => d.step)).toEqual([35, 30, 20]);
    expect(planRetention(listing, 50, 1).map((d) => d.step)).toEqual([40, 35, 30, 20]);
    expect(planRetention(listing, 50, 10).map((d) => d.step)).toEqual([35]);
  });
});
