// The schedules as orders of actions, their peak of micro-batches in flight, and their bubble when every stage's
// forward and backward take fixed times: (p − 1) / (m + p − 1) for GPipe and 1F1B alike.
import { describe, expect, it } from "vitest";
import { peakInFlight, pipelineSchedule, simulateSchedule, theoreticalBubble, type PipeAction } from "../../src/parallel/pipeline-schedule.js";

const text = (actions: readonly PipeAction[]) => actions.map((a) => `${a.kind === "forward" ? "F" : "B"}${a.micro}`).join(" ");

describe("pipeline schedules", () => {
  it("GPipe runs every forward, then every backward", () => {
    expect(text(pipelineSchedule("gpipe", 4, 1, 4))).toBe("F0 F1 F2 F3 B0 B1 B2 B3");
  });

  it("1F1B warms up with p − s − 1 forwards, alternates, then drains (PipeDream-Flush, p = 4, m = 8)", () => {
    expect(text(pipelineSchedule("1f1b", 4, 0, 8))).toBe("F0 F1 F2 F3 B0 F4 B1 F5 B2 F6 B3 F7 B4 B5 B6 B7");
    expect(text(pipelineSchedule("1f1b", 4, 2, 8))).toBe("F0 F1 B0 F2 B1 F3 B2 F4 B3 F5 B4 F6 B5 F7 B6 B7");
    expect(text(pipelineSchedule("1f1b", 4, 3, 8))).toBe("F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5 F6 B6 F7 B7");
    // Fewer micro-batches than stages: the warm-up is cut short.
    expect(text(pipelineSchedule("1f1b", 4, 0, 2))).toBe("F0 F1 B0 B1");
  });

  it("every micro-batch runs forward then backward once, backwards in micro-batch order", () => {
    for (const kind of ["gpipe", "1f1b"] as const)
      for (let p = 1; p <= 5; p++)
        for (let s = 0; s < p; s++)
          for (let m = 1; m <= 9; m++) {
            const actions = pipelineSchedule(kind, p, s, m);
            expect(actions.filter((a) => a.kind === "forward").map((a) => a.micro)).toEqual([...Array(m).keys()]);
            expect(actions.filter((a) => a.kind === "backward").map((a) => a.micro)).toEqual([...Array(m).keys()]);
            actions.forEach((a, i) => a.kind === "backward" && expect(actions.slice(0, i).some((b) => b.kind === "forward" && b.micro === a.micro)).toBe(true));
          }
  });

  it("1F1B holds at most p − s micro-batches on stage s; GPipe holds all m", () => {
    for (let m = 1; m <= 12; m++) {
      expect(peakInFlight(pipelineSchedule("gpipe", 4, 0, m))).toBe(m);
      for (let s = 0; s < 4; s++) expect(peakInFlight(pipelineSchedule("1f1b", 4, s, m))).toBe(Math.min(4 - s, m));
    }
  });

  it("the simulated bubble is (p − 1) / (m + p − 1) for both schedules", () => {
    for (const kind of ["gpipe", "1f1b"] as const)
      for (let p = 1; p <= 4; p++)
        for (let m = 1; m <= 8; m++) {
          const sim = simulateSchedule(kind, p, m, 1, 2);
          expect(sim.bubble, `${kind} p=${p} m=${m}`).toBeCloseTo(theoreticalBubble(p, m), 12);
          expect(sim.makespan).toBe(3 * (m + p - 1));
        }
  });

  it("refuses stages or micro-batches out of range", () => {
    expect(() => pipelineSchedule("1f1b", 2, 2, 4)).toThrow(RangeError);
    expect(() => pipelineSchedule("gpipe", 2, 0, 0)).toThrow(RangeError);
  });
});
