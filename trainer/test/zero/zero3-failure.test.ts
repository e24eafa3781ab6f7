// A ZeRO-3 step whose gather or reduce-scatter fails part-way through a micro-batch frees every tensor it made: the
// tensors alive after the rejected step are exactly those alive before it (the shard and the moments).
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/backend/select-backend.js";
import { SoloCollective } from "../../src/collective/collective.js";
import { Trainer } from "../../src/train/trainer.js";
import { tinyTrain, tokenRows } from "../model/tiny.js";

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
});

class CollectiveFailure extends Error {
  constructor(readonly call: number) {
    super(`collective call ${call} failed (injected)`);
  }
}

/** A world of one whose shard collectives fail at call `failAt` (1-based); counts the calls. */
class FailingCollective extends SoloCollective {
  calls = 0;
  constructor(private readonly failAt: number) {
    super();
  }
  private tick(): Promise<void> {
    this.calls++;
    return this.calls === this.failAt ? Promise.reject(new CollectiveFailure(this.calls)) : Promise.resolve();
  }
  override reduceScatterSum(): Promise<void> {
    return this.tick();
  }
  override allGatherOwned(): Promise<void> {
    return this.tick();
  }
}

describe("ZeRO-3 micro-batch failure", () => {
  it.each(["none", "full"] as const)("frees every tensor when any gather or reduce-scatter fails (checkpointing %s)", async (mode) => {
    const config = tinyTrain({ globalBatchSize: 2, microBatchSize: 2, memory: { zeroStage: 3, gradientCheckpointing: mode } });
    const rows = tokenRows(2, 8);
    const probe = new FailingCollective(0);
    const ok = new Trainer(config, probe);
    await ok.step(0, rows);
    ok.dispose();
    const total = probe.calls;
    // Gathers and reduce-scatters of the embedding, each block and the head, forward and backward.
    expect(total).toBeGreaterThan(2 * config.model.layers);
    for (let failAt = 1; failAt <= total; failAt++) {
      const trainer = new Trainer(config, new FailingCollective(failAt));
      const before = tf.memory().numTensors;
      await expect(trainer.step(0, rows), `call ${failAt}`).rejects.toBeInstanceOf(CollectiveFailure);
      expect(tf.memory().numTensors, `tensors after a failure at call ${failAt} of ${total}`).toBe(before);
      trainer.dispose();
    }
  });
});
