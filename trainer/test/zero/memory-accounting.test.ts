// The trainer's own per-rank accounting of parameter, gradient and optimizer bytes: what it measures (tfjs bytes
// allocated for the moments, the reduced buffer it held) equals the formula for its stage, world and rank, and the ZeRO table for fp32.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/backend/select-backend.js";
import { parameterCount } from "../../src/model/param-layout.js";
import { Trainer } from "../../src/train/trainer.js";
import { STAT_SLOTS } from "../../src/zero/shard-layout.js";
import { tinyTrain, tokenRows, TINY } from "../model/tiny.js";
import { LocalGroup } from "../train/local-group.js";

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
});

const N = 4;
const PSI = parameterCount(TINY);

describe("memory accounting (4 ranks, fp32)", () => {
  it.each([0, 1, 2, 3] as const)("ZeRO-%i: formula = live figure = tfjs bytes, and the table's shares", async (stage) => {
    const base = tf.memory().numBytes;
    const group = new LocalGroup(N);
    const config = tinyTrain({ globalBatchSize: 2 * N, microBatchSize: 2, memory: { zeroStage: stage, gradientCheckpointing: "none" } });
    const ranks = Array.from({ length: N }, (_, r) => new Trainer(config, group.rank(r)));
    const rows = tokenRows(2 * N, 8);
    await Promise.all(ranks.map((t, r) => t.step(0, rows.slice(2 * r, 2 * r + 2))));
    const live = ranks.map((t) => t.liveMemory());
    ranks.forEach((t, r) => expect(live[r], `rank ${r}`).toEqual(t.expectedMemory()));
    // Parameters and optimizer moments are the only tensors alive between steps.
    expect(tf.memory().numBytes - base).toBe(live.reduce((n, m) => n + m.params + m.optimizer, 0));

    const slack = 4 * (1 + STAT_SLOTS); // a shard is Ψ/N rounded, and the last one lends slots to the loss pair
    const share = (bytesPerValue: number, sharded: boolean) => (sharded ? (bytesPerValue * PSI) / N : bytesPerValue * PSI);
    for (const m of live) {
      expect(Math.abs(m.params - share(4, stage >= 3))).toBeLessThanOrEqual(slack);
      expect(Math.abs(m.grads - share(4, stage >= 2))).toBeLessThanOrEqual(slack);
      expect(Math.abs(m.optimizer - share(8, stage >= 1))).toBeLessThanOrEqual(2 * slack);
    }
    // The shards partition the model: summed over ranks, a sharded term is exactly the unsharded one.
    const sum = (k: "params" | "grads" | "optimizer") => live.reduce((n, m) => n + m[k], 0);
    if (stage >= 1) expect(sum("optimizer")).toBe(8 * PSI);
    if (stage >= 2) expect(sum("grads")).toBe(4 * PSI);
    if (stage >= 3) expect(sum("params")).toBe(4 * PSI);
    ranks.forEach((t) => t.dispose());
    expect(tf.memory().numBytes).toBe(base);
  });
});
