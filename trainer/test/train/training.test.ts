// Training as a whole: the loss falls, and nothing leaks.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/backend/select-backend.js";
import { SoloCollective } from "../../src/collective/collective.js";
import { Trainer } from "../../src/train/trainer.js";
import { tinyTrain, tokenRows } from "../model/tiny.js";

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
});

describe("training", () => {
  it("overfits a small fixed batch: the loss falls well below ln(vocab)", async () => {
    const schedule = { type: "constant" as const, peakLr: 1e-2, warmupSteps: 2, minLrRatio: 1, totalSteps: 30 };
    const t = new Trainer(tinyTrain({ globalBatchSize: 2, microBatchSize: 2, schedule }, { layers: 1 }), new SoloCollective());
    const rows = tokenRows(2);
    const losses: number[] = [];
    for (let s = 0; s < 30; s++) losses.push(await t.step(s, rows));
    expect(losses[0]).toBeCloseTo(Math.log(64), 1);
    expect(losses[29]).toBeLessThan(0.5 * (losses[0] as number));
    expect(await t.evaluate(rows)).toBeLessThan(losses[0] as number);
    t.dispose();
  });

  it("does not leak tensors over 50 steps", async () => {
    const t = new Trainer(tinyTrain({ globalBatchSize: 2, microBatchSize: 2 }, { layers: 1 }), new SoloCollective());
    const rows = tokenRows(2);
    await t.step(0, rows);
    const before = tf.memory().numTensors;
    for (let s = 1; s <= 50; s++) await t.step(s, rows);
    await t.evaluate(rows);
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
  });

});
