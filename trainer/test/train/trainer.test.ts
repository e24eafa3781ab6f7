import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NamedArray } from "../../src/checkpoint/named-array.js";
import { selectBackend } from "../../src/backend/select-backend.js";
import { SoloCollective, type Collective } from "../../src/collective/collective.js";
import { BatchError } from "../../src/train/micro-batches.js";
import { TrainConfigError } from "../../src/train/train-config.js";
import { Trainer } from "../../src/train/trainer.js";
import { tinyTrain, tokenRows } from "../model/tiny.js";
import { LocalGroup } from "./local-group.js";

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
});
afterAll(async () => {
  await selectBackend({ order: ["cpu"] });
});

const bytesOf = (arrays: NamedArray[]): Buffer => Buffer.concat(arrays.map((a) => Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)));

function maxDiff(a: NamedArray[], b: NamedArray[]): number {
  let d = 0;
  a.forEach((x, i) => x.data.forEach((v, j) => (d = Math.max(d, Math.abs(v - ((b[i] as NamedArray).data[j] as number))))));
  return d;
}

/** A collective that counts calls and checks the parts: gradients plus the [loss, micro-batches] pair. */
class CountingSolo implements Collective {
  readonly rank = 0;
  readonly worldSize = 1;
  calls = 0;
  lastParts = 0;
  private readonly solo = new SoloCollective();
  allReduceSum(parts: Float32Array[]): Promise<void> {
    this.calls++;
    this.lastParts = parts.length;
    return Promise.resolve();
  }
  allGather = (data: Float32Array) => this.solo.allGather(data);
  broadcast = () => this.solo.broadcast();
  barrier = () => this.solo.barrier();
  close = () => this.solo.close();
}

describe("Trainer", () => {
  it("all-reduces once per step: every gradient plus the loss and micro-batch count", async () => {
    const collective = new CountingSolo();
    const t = new Trainer(tinyTrain({ globalBatchSize: 6, microBatchSize: 2 }), collective);
    expect(t.accumulation).toBe(3);
    const stats = await t.stepWithStats(0, tokenRows(6));
    expect(collective.calls).toBe(1);
    expect(collective.lastParts).toBe(2 + 2 * 16 + 2 + 1); // wte, wpe, 16 per block, ln_f: 36 gradients, then the stats pair
    expect(stats.tokens).toBe(6 * 16);
    expect(stats.lr).toBeCloseTo(1.5e-3, 9);
    t.dispose();
  });

  it("accumulates: micro-batch b with 2 accumulation steps equals micro-batch 2b in one", async () => {
    const rows = tokenRows(4);
    const a = new Trainer(tinyTrain({ globalBatchSize: 4, microBatchSize: 2 }), new SoloCollective());
    const b = new Trainer(tinyTrain({ globalBatchSize: 4, microBatchSize: 4 }), new SoloCollective());
    expect([a.accumulation, b.accumulation]).toEqual([2, 1]);
    for (let s = 0; s < 3; s++) {
      const [la, lb] = [await a.step(s, rows), await b.step(s, rows)];
      expect(Math.abs(la - lb)).toBeLessThan(1e-5);
    }
    const [sa, sb] = [await a.exportState(), await b.exportState()];
    // Float32 sums in another order: a few ulps of weights of size ~0.1 after 3 steps of lr 3e-3.
    expect(maxDiff(sa.params, sb.params)).toBeLessThan(1e-5);
    expect(maxDiff(sa.optimizer, sb.optimizer)).toBeLessThan(1e-5);
    a.dispose();
    b.dispose();
  });

  it("2 ranks × micro-batch b equal 1 rank with batch 2b (through the collective)", async () => {
    const rows = tokenRows(4);
    const group = new LocalGroup(2);
    const ranks = [0, 1].map((r) => new Trainer(tinyTrain({ globalBatchSize: 4, microBatchSize: 2 }), group.rank(r)));
    const single = new Trainer(tinyTrain({ globalBatchSize: 4, microBatchSize: 4 }), new SoloCollective());
    for (let s = 0; s < 2; s++) {
      const [l0, l1] = await Promise.all([ranks[0]?.step(s, rows.slice(0, 2)), ranks[1]?.step(s, rows.slice(2))]);
      const l = await single.step(s, rows);
      expect(l0).toBe(l1);
      expect(Math.abs((l0 as number) - l)).toBeLessThan(1e-5);
    }
    expect(group.calls).toBe(2);
    const [p0, p1, ps] = await Promise.all([ranks[0]?.exportParams(), ranks[1]?.exportParams(), single.exportParams()]);
    expect(bytesOf(p0 as NamedArray[]).equals(bytesOf(p1 as NamedArray[]))).toBe(true);
    expect(maxDiff(p0 as NamedArray[], ps as NamedArray[])).toBeLessThan(1e-5);
    [...ranks, single].forEach((t) => t?.dispose());
  });

  it("rejects a batch of the wrong size or with tokens outside the vocabulary", async () => {
    const t = new Trainer(tinyTrain(), new SoloCollective());
    await expect(t.step(0, tokenRows(3))).rejects.toThrow(/needs 4/);
    const bad = tokenRows(4);
    (bad[2] as Int32Array)[5] = 64;
    await expect(t.step(0, bad)).rejects.toThrow(BatchError);
    t.dispose();
    const three = new LocalGroup(3).rank(0);
    expect(() => new Trainer(tinyTrain({ globalBatchSize: 4, microBatchSize: 2 }), three)).toThrow(TrainConfigError);
  });
});
