// The point of distillation: a small student distilled from a trained teacher generalises better than the same
// student trained on the labels alone, for the same steps on the same rows. The corpus is a Markov chain (see
// markov-corpus.ts); the student sees 8 fixed rows, so on labels alone it memorises single draws, while the teacher's
// soft targets carry the whole next-token distribution at every position.
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/backend/select-backend.js";
import { SoloCollective } from "../../src/collective/collective.js";
import { distillationObjective, fullModelStudent } from "../../src/distill/distill-objective.js";
import { teacherFromArrays } from "../../src/distill/teacher.js";
import type { ModelConfig } from "../../src/model/model-config.js";
import { Trainer } from "../../src/train/trainer.js";
import type { Objective } from "../../src/train/objective.js";
import { TINY, tinyTrain } from "../model/tiny.js";
import { chainEntropy, markovRows } from "./markov-corpus.js";

// wasm (about 5 s here) where it starts, cpu (about 30 s) otherwise: three trainings are the slowest part.
beforeAll(async () => {
  await selectBackend({ order: ["wasm", "cpu"] });
});

const SEQ = TINY.contextLength;
const constant = (peakLr: number, totalSteps: number) => ({ type: "constant" as const, peakLr, warmupSteps: 0, minLrRatio: 1, totalSteps });

async function trainTeacher(): Promise<Trainer> {
  // Fresh rows every step: the teacher sees plenty of the language.
  const t = new Trainer(tinyTrain({ globalBatchSize: 16, microBatchSize: 16, schedule: constant(1e-2, 60), seed: 3 }), new SoloCollective());
  for (let s = 0; s < 60; s++) await t.step(s, markovRows(16, SEQ, TINY.vocabSize, 1000 + s));
  return t;
}

async function trainStudent(model: Partial<ModelConfig>, rows: Int32Array[], steps: number, objective?: Objective): Promise<Trainer> {
  const cfg = tinyTrain({ globalBatchSize: rows.length, microBatchSize: rows.length, schedule: constant(1e-2, steps), seed: 9 }, model);
  const t = new Trainer(cfg, new SoloCollective(), objective === undefined ? {} : { objective });
  for (let s = 0; s < steps; s++) await t.step(s, rows);
  return t;
}

describe("distillation on held-out data", () => {
  it("a distilled student beats the same student trained on labels alone", async () => {
    const heldOut = markovRows(16, SEQ, TINY.vocabSize, 424242);
    const teacherRun = await trainTeacher();
    const teacherLoss = await teacherRun.evaluate(heldOut);
    const teacher = teacherFromArrays(TINY, await teacherRun.exportParams());
    teacherRun.dispose();

    const studentModel: Partial<ModelConfig> = { layers: 1, dModel: 16, heads: 2, kvHeads: 2, hidden: 64 };
    const student = { ...TINY, ...studentModel };
    const rows = markovRows(8, SEQ, TINY.vocabSize, 77);
    const steps = 40;
    const labelsOnly = await trainStudent(studentModel, rows, steps);
    const distilled = await trainStudent(studentModel, rows, steps, distillationObjective(fullModelStudent(student), teacher, { alpha: 0.1, temperature: 2 }));
    const plainLoss = await labelsOnly.evaluate(heldOut);
    const distilledLoss = await distilled.evaluate(heldOut);
    const trainLossPlain = await labelsOnly.evaluate(rows);
    labelsOnly.dispose();
    distilled.dispose();
    teacher.dispose();

    console.warn(JSON.stringify({ chainEntropy: chainEntropy(), teacherLoss, plainLoss, distilledLoss, trainLossPlain, gain: plainLoss - distilledLoss }));
    // The teacher learned the language (well below ln 64 = 4.16); the labels-only student memorised its rows.
    expect(teacherLoss).toBeLessThan(2.2);
    expect(trainLossPlain).toBeLessThan(plainLoss);
    expect(distilledLoss).toBeLessThan(plainLoss - 0.2);
  });
});
