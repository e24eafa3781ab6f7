import { describe, expect, it } from "vitest";
import { progressFromRecord } from "@gantry/crds";
import { ProgressThrottle, etaSeconds, progressFields } from "../../src/runtime/progress-record.js";
import { StopSignal } from "../../src/runtime/stop-signal.js";
import { SoloCollective, type Collective } from "../../src/collective/collective.js";
import { lossCurveSvg } from "../../src/runtime/loss-plot.js";

describe("the progress record", () => {
  it("is what the operator's parser reads back", () => {
    const fields = progressFields({ step: 40, totalSteps: 100, loss: 2.345678, tokensPerSecond: 1234.6, etaSeconds: etaSeconds(60, 0.5), checkpoint: { step: 40, uri: "s3://b/j/step-00000040", time: "2026-12-01T00:00:00Z" } });
    expect(progressFromRecord(fields)).toEqual({
      step: 40,
      totalSteps: 100,
      loss: "2.346",
      tokensPerSecond: 1235,
      etaSeconds: 30,
      lastCheckpoint: { step: 40, uri: "s3://b/j/step-00000040", time: "2026-12-01T00:00:00Z" },
    });
  });

  it("is published at a bounded rate, but always for a new checkpoint and the last step", () => {
    const t = new ProgressThrottle(1000);
    const at = (step: number, checkpoint?: number) => ({ step, totalSteps: 10, loss: 1, tokensPerSecond: 1, ...(checkpoint === undefined ? {} : { checkpoint: { step: checkpoint, uri: "u", time: "t" } }) });
    expect([t.due(0, at(1)), t.due(500, at(2)), t.due(900, at(3, 3)), t.due(950, at(4, 3)), t.due(1000, at(5, 3)), t.due(1100, at(10, 3)), t.due(2500, at(6, 3))]).toEqual([true, false, true, false, false, true, true]);
  });
});

/** A world of ranks in one process whose all-reduce sums a flag across them. */
function flagWorld(n: number): Collective[] {
  let pending: { parts: Float32Array[]; resolve: () => void }[] = [];
  return Array.from({ length: n }, (_, rank) => {
    const c = new SoloCollective();
    return Object.assign(Object.create(c) as Collective, {
      rank,
      worldSize: n,
      allReduceSum: (parts: Float32Array[]) =>
        new Promise<void>((resolve) => {
          pending.push({ parts, resolve });
          if (pending.length < n) return;
          const sums = [0, 1].map((i) => pending.reduce((s, p) => s + (p.parts[0]?.[i] ?? 0), 0));
          for (const p of pending) {
            (p.parts[0] as Float32Array).set(sums);
            p.resolve();
          }
          pending = [];
        }),
    });
  });
}

describe("the stop agreement", () => {
  it("stops every rank after the same step when only one was signalled", async () => {
    const world = flagWorld(3);
    const signals = world.map(() => new StopSignal());
    const round = () => Promise.all(world.map((c, i) => (signals[i] as StopSignal).agreed(c)));
    expect(await round()).toEqual([false, false, false]);
    signals[1]?.request("SIGTERM");
    expect(await round()).toEqual([true, true, true]);
    expect(signals.map((s) => s.reason)).toEqual(["a peer was asked to stop", "SIGTERM", "a peer was asked to stop"]);
    // Rank 0's clock alone can call a save; every rank hears it.
    const votes = await Promise.all(world.map((c, i) => (signals[i] as StopSignal).vote(c, i === 0)));
    expect(votes).toEqual([0, 1, 2].map(() => ({ stop: true, save: true })));
  });
});

describe("the loss plot", () => {
  it("draws the training curve, and the validation curve when there is one", () => {
    const svg = lossCurveSvg("tiny <run>", [{ step: 0, loss: 5 }, { step: 10, loss: 3 }, { step: 20, loss: 2 }], [{ step: 20, loss: 2.5 }]);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("tiny &lt;run&gt;");
    const paths = [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]);
    expect(paths).toHaveLength(2);
    expect(paths[0]?.split(" ")).toHaveLength(3);
    // Loss falls, so the curve goes down the page (SVG y grows downwards).
    const ys = (paths[0] ?? "").split(" ").map((p) => Number(p.slice(1).split(",")[1]));
    expect(ys[0]).toBeLessThan(ys[2] ?? 0);
  });
});
