// Training with a PEFT Objective: only the adapters move, the base stays bit for bit, only adapter gradients are
// all-reduced, and a LoRA run exported at step N and resumed equals the straight run bit for bit (dropout on).
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/backend/select-backend.js";
import { CountingSoloCollective } from "../../src/collective/collective.js";
import { exportParams } from "../../src/model/param-io.js";
import type { PeftConfig } from "../../src/peft/peft-config.js";
import { peftParameterCount } from "../../src/peft/peft-layout.js";
import { peftObjective } from "../../src/peft/peft-objective.js";
import { Trainer } from "../../src/train/trainer.js";
import { tinyTrain, tokenRows } from "../model/tiny.js";
import { ADAPTER, LORA, baseArrays, bytesOf } from "./fixtures.js";

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
});


const batch = (s: number): Int32Array[] => tokenRows(4, 16, 64, 300 + s);

describe.each<[string, PeftConfig]>([
  ["LoRA", { ...LORA, dropout: 0.1 }],
  ["adapters", ADAPTER],
])("training %s", (_name, peft) => {
  it("moves only the adapters: the base is unchanged bit for bit, the all-reduce carries the adapters alone", async () => {
    const config = tinyTrain({}, { dropout: 0.1 });
    const base = baseArrays(config.model);
    const before = bytesOf(base);
    const objective = peftObjective(config.model, peft, base);
    const collective = new CountingSoloCollective();
    const trainer = new Trainer(config, collective, { objective });
    const start = await trainer.exportParams();
    const losses: number[] = [];
    for (let s = 0; s < 4; s++) losses.push(await trainer.step(s, batch(s)));
    const after = await trainer.exportParams();
    expect(after.map((a) => a.name)).toEqual(objective.trainable.map((p) => p.name));
    expect(bytesOf(after).equals(bytesOf(start))).toBe(false);
    // The frozen tensors the objective holds, read back: the same bytes as the pretrained arrays.
    expect(bytesOf(await exportParams(config.model, objective.baseTensors)).equals(before)).toBe(true);
    expect(bytesOf(base).equals(before)).toBe(true);
    // One all-reduce per step: the adapter gradients plus (loss, micro-batch count).
    expect(collective.floats).toEqual([0, 1, 2, 3].map(() => peftParameterCount(config.model, peft) + 2));
    // The optimizer state is the adapters' too: m and v per adapter tensor, and the step count.
    const state = await trainer.exportState();
    expect(state.optimizer.length).toBe(2 * objective.trainable.length + 1);
    expect(losses.every(Number.isFinite)).toBe(true);
    trainer.dispose();
    objective.dispose();
  });
});

describe("exact resume of a LoRA run", () => {
  it("export at step 3, import into a fresh trainer and objective, continue to 6: bitwise the straight run", async () => {
    const config = tinyTrain({}, { dropout: 0.1 });
    const peft: PeftConfig = { ...LORA, dropout: 0.2, targets: ["q", "v", "down"] };
    const run = async (t: Trainer, from: number, to: number) => {
      const out: number[] = [];
      for (let s = from; s < to; s++) out.push(await t.step(s, batch(s)));
      return out;
    };
    const straightObjective = peftObjective(config.model, peft, baseArrays(config.model));
    const straight = new Trainer(config, new CountingSoloCollective(), { objective: straightObjective });
    const straightLosses = await run(straight, 0, 6);

    const firstObjective = peftObjective(config.model, peft, baseArrays(config.model));
    const first = new Trainer(config, new CountingSoloCollective(), { objective: firstObjective });
    const firstLosses = await run(first, 0, 3);
    const saved = await first.exportState();
    first.dispose();
    firstObjective.dispose();
    const resumedObjective = peftObjective(config.model, peft, baseArrays(config.model));
    const resumed = new Trainer(config, new CountingSoloCollective(), { objective: resumedObjective, params: saved.params });
    resumed.importState(saved);
    const resumedLosses = await run(resumed, 3, 6);

    expect([...firstLosses, ...resumedLosses]).toEqual(straightLosses);
    const [a, b] = [await straight.exportState(), await resumed.exportState()];
    expect(bytesOf(b.params).equals(bytesOf(a.params))).toBe(true);
    expect(bytesOf(b.optimizer).equals(bytesOf(a.optimizer))).toBe(true);
    // LoRA dropout is drawn: the same run without it takes another path.
    const noDropObjective = peftObjective(config.model, { ...peft, dropout: 0 }, baseArrays(config.model));
    const noDrop = new Trainer(config, new CountingSoloCollective(), { objective: noDropObjective });
    expect(await run(noDrop, 0, 2)).not.toEqual(straightLosses.slice(0, 2));
    for (const t of [straight, resumed, noDrop]) t.dispose();
    for (const o of [straightObjective, resumedObjective, noDropObjective]) o.dispose();
    expect(tf.memory().numTensors).toBeLessThan(50);
  });
});
