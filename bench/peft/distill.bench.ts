// Distillation step time against plain training of the same student, side by side in one run on one backend:
// plain and distilled steps alternate (so drift in machine load hits both), and the teacher's forward alone is timed
// too, to show that the overhead is one teacher forward and no more (no tape, no gradient through the teacher).
// Two teachers: the student's own size and a 4× wider-and-deeper one.
import * as tf from "@tensorflow/tfjs-core";
import { printResult, printTable, type Row } from "../table.js";
import { selectBackend, type BackendName } from "../../trainer/src/backend/select-backend.js";
import { SoloCollective } from "../../trainer/src/collective/collective.js";
import { distillationObjective, fullModelStudent } from "../../trainer/src/distill/distill-objective.js";
import { teacherFromArrays, type Teacher } from "../../trainer/src/distill/teacher.js";
import { initParams } from "../../trainer/src/model/init-params.js";
import type { ModelConfig } from "../../trainer/src/model/model-config.js";
import { parameterCount } from "../../trainer/src/model/param-layout.js";
import type { Objective } from "../../trainer/src/train/objective.js";
import { Trainer } from "../../trainer/src/train/trainer.js";
import { benchModel, benchTrainConfig, syntheticRows } from "../trainer-setup.js";

const BACKEND = (process.env["BENCH_DISTILL_BACKEND"] ?? "wasm") as BackendName;
const STEPS = Number(process.env["BENCH_DISTILL_STEPS"] ?? 12);
const BATCH = 8;
const base = { vocabSize: 512, contextLength: 64, kvHeads: 4 } as const;
const STUDENT: ModelConfig = benchModel({ ...base, layers: 2, dModel: 64, heads: 4, hidden: 256 });
const TEACHERS: { name: string; model: ModelConfig }[] = [
  { name: "same size", model: STUDENT },
  { name: "larger", model: benchModel({ ...base, layers: 4, dModel: 128, heads: 4, hidden: 512 }) },
];

const rows = (n: number, seqLen: number, vocab: number, seed: number): Int32Array[] => syntheticRows(n, seqLen, vocab, seed * 31);

function trainer(objective?: Objective): Trainer {
  return new Trainer(benchTrainConfig(STUDENT, BATCH), new SoloCollective(), objective === undefined ? {} : { objective });
}

async function teacherForwardSeconds(teacher: Teacher, data: Int32Array[]): Promise<number> {
  const seq = STUDENT.contextLength;
  const run = async () => {
    const logits = tf.tidy(() => teacher.logits(tf.tensor2d(data.flatMap((r) => Array.from(r.subarray(0, seq))), [data.length, seq], "int32")));
    await logits.data();
    logits.dispose();
  };
  await run();
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) await run();
  return (performance.now() - t0) / 1000 / STEPS;
}

async function main(): Promise<void> {
  const backend = await selectBackend({ order: [BACKEND, "cpu"] });
  const tableRows: Row[] = [];
  const figures: Record<string, number> = {};
  let worstExcess = 0;
  for (const t of TEACHERS) {
    const teacher = teacherFromArrays(t.model, initParams(t.model, 2));
    const plain = trainer();
    const distilled = trainer(distillationObjective(fullModelStudent(STUDENT), teacher, { alpha: 0.5, temperature: 2 }));
    const plainTimes: number[] = [];
    const distillTimes: number[] = [];
    for (let s = 0; s <= STEPS; s++) {
      const data = rows(BATCH, STUDENT.contextLength, STUDENT.vocabSize, s);
      const a = performance.now();
      await plain.step(s, data);
      const b = performance.now();
      await distilled.step(s, data);
      const c = performance.now();
      // Step 0 is the warm-up (kernel set-up, first allocations) for both.
      if (s > 0) {
        plainTimes.push((b - a) / 1000);
        distillTimes.push((c - b) / 1000);
      }
    }
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    const plainS = mean(plainTimes);
    const distillS = mean(distillTimes);
    const forwardS = await teacherForwardSeconds(teacher, rows(BATCH, STUDENT.contextLength, STUDENT.vocabSize, 99));
    plain.dispose();
    distilled.dispose();
    teacher.dispose();
    const overhead = distillS / plainS - 1;
    // What the overhead costs beyond the teacher's forward: the KL term and its gradient (ideally small).
    const excess = (distillS - plainS - forwardS) / plainS;
    worstExcess = Math.max(worstExcess, excess);
    const key = t.name === "same size" ? "same" : "larger";
    Object.assign(figures, {
      [`${key}TeacherParams`]: parameterCount(t.model),
      [`${key}PlainStepMs`]: plainS * 1000,
      [`${key}DistillStepMs`]: distillS * 1000,
      [`${key}TeacherForwardMs`]: forwardS * 1000,
      [`${key}Overhead`]: overhead,
      [`${key}ExcessOverForward`]: excess,
    });
    tableRows.push({
      teacher: t.name,
      "teacher params": parameterCount(t.model),
      "plain step ms": plainS * 1000,
      "distill step ms": distillS * 1000,
      "teacher fwd ms": forwardS * 1000,
      overhead: `${(100 * overhead).toFixed(1)}%`,
      "beyond teacher fwd": `${(100 * excess).toFixed(1)}%`,
    });
  }
  printTable(`Distillation step time vs plain training (student ${parameterCount(STUDENT).toLocaleString("en-US")} params, batch ${BATCH} × ${STUDENT.contextLength} tokens, ${backend}, mean of ${STEPS} steps)`, tableRows);
  printResult({
    bench: "peft-distill",
    backend,
    steps: STEPS,
    studentParams: parameterCount(STUDENT),
    ...figures,
    meets: {
      // A teacher of the student's size costs one forward of the student: at most about half a training step.
      sameSizeOverheadAtMost60pct: (figures["sameOverhead"] ?? Infinity) <= 0.6,
      // The overhead is the teacher's forward plus the loss: no more than 15% of a plain step beyond the forward.
      overheadBeyondTeacherForwardAtMost15pct: worstExcess <= 0.15,
    },
  });
}

await main();
