// Bitwise determinism: same seed, same weights; and export at step N, import into a fresh trainer, continue to 2N
// gives the same bytes (weights, optimizer state, per-step losses) as training 2N straight.
import { afterAll, describe, expect, it } from "vitest";
import type { NamedArray } from "../../src/checkpoint/named-array.js";
import { selectBackend, type BackendName } from "../../src/backend/select-backend.js";
import { SoloCollective } from "../../src/collective/collective.js";
import { Trainer } from "../../src/train/trainer.js";
import { tinyTrain, tokenRows } from "../model/tiny.js";

const N = 3;
const config = tinyTrain({ globalBatchSize: 4, microBatchSize: 2 }, { dropout: 0.1, layers: 1 });
const batch = (s: number): Int32Array[] => tokenRows(4, 16, 64, 100 + s);
const bytesOf = (arrays: NamedArray[]): Buffer => Buffer.concat(arrays.map((a) => Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)));

async function run(trainer: Trainer, from: number, to: number): Promise<number[]> {
  const losses: number[] = [];
  for (let s = from; s < to; s++) losses.push(await trainer.step(s, batch(s)));
  return losses;
}

afterAll(async () => {
  await selectBackend({ order: ["cpu"] });
});

describe.each<BackendName>(["cpu", "wasm"])("exact resume on %s (with dropout)", (backend) => {
  it("same seed gives identical weights; a resumed run equals the straight one bit for bit", async () => {
    await selectBackend({ order: [backend] });
    const straight = new Trainer(config, new SoloCollective());
    const straightLosses = await run(straight, 0, N);
    const atN = await straight.exportParams();
    straightLosses.push(...(await run(straight, N, 2 * N)));

    // The same seed, trained separately to N: the same bytes (the determinism the resume relies on).
    const first = new Trainer(config, new SoloCollective());
    const firstLosses = await run(first, 0, N);
    const saved = await first.exportState();
    expect(bytesOf(saved.params).equals(bytesOf(atN))).toBe(true);
    first.dispose();
    const resumed = new Trainer(config, new SoloCollective());
    resumed.importState(saved);
    expect(resumed.optimizerSteps).toBe(N);
    const resumedLosses = await run(resumed, N, 2 * N);

    expect([...firstLosses, ...resumedLosses]).toEqual(straightLosses);
    const [a, b] = [await straight.exportState(), await resumed.exportState()];
    expect(bytesOf(b.params).equals(bytesOf(a.params))).toBe(true);
    expect(bytesOf(b.optimizer).equals(bytesOf(a.optimizer))).toBe(true);
    expect(b.optimizer.map((x) => x.name).slice(-1)).toEqual(["adamw.step"]);
    straight.dispose();
    resumed.dispose();
  });
});
