// The distillation loss and objective: the formula by hand, the zero-KL identity, the typed errors.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/backend/select-backend.js";
import { DistillConfigError, distillationLoss, distillationLossValue, softTargetKl } from "../../src/distill/distill-loss.js";
import { distillationObjective, fullModelStudent } from "../../src/distill/distill-objective.js";
import { TeacherMismatchError, checkTeacherCompatible, teacherFromArrays } from "../../src/distill/teacher.js";
import { initParams } from "../../src/model/init-params.js";
import { importParams } from "../../src/model/param-io.js";
import { toMicroBatches, type MicroBatch } from "../../src/train/micro-batches.js";
import { fullModelObjective } from "../../src/train/objective.js";
import { TINY, tokenRows } from "../model/tiny.js";

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
});

/** Float64 reference of α·CE + (1−α)·T²·KL for logits rows [n][V] and labels [n]. */
function referenceLoss(s: number[][], t: number[][], labels: number[], alpha: number, temp: number) {
  const logSoftmax = (row: number[], T: number) => {
    const z = row.map((v) => v / T);
    const m = Math.max(...z);
    const lse = m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
    return z.map((v) => v - lse);
  };
  let ce = 0;
  let kl = 0;
  s.forEach((row, i) => {
    ce -= logSoftmax(row, 1)[labels[i] as number] as number;
    const lp = logSoftmax(t[i] as number[], temp);
    const lq = logSoftmax(row, temp);
    kl += lp.reduce((a, v, j) => a + Math.exp(v) * (v - (lq[j] as number)), 0);
  });
  ce /= s.length;
  kl /= s.length;
  return { ce, kl, loss: alpha * ce + (1 - alpha) * temp * temp * kl };
}

const rand = (n: number, seed: number) => {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return (x / 4_294_967_296) * 6 - 3;
  });
};

describe("distillationLoss", () => {
  it("equals α·CE + (1−α)·T²·KL computed by hand in Float64", () => {
    const rows = 6;
    const vocab = 5;
    const sFlat = rand(rows * vocab, 1);
    const tFlat = rand(rows * vocab, 2);
    const labels = [0, 4, 2, 1, 3, 2];
    const chunk = (a: number[]) => Array.from({ length: rows }, (_, i) => a.slice(i * vocab, (i + 1) * vocab));
    for (const [alpha, temp] of [[0.5, 2], [0, 1], [1, 3], [0.3, 0.7]] as const) {
      const ref = referenceLoss(chunk(sFlat), chunk(tFlat), labels, alpha, temp);
      const got = tf.tidy(() => {
        const p = distillationLoss(tf.tensor3d(sFlat, [2, 3, vocab]), tf.tensor3d(tFlat, [2, 3, vocab]), tf.tensor2d(labels, [2, 3], "int32"), { alpha, temperature: temp });
        return [p.loss.dataSync()[0], p.ce.dataSync()[0], p.kl.dataSync()[0]] as number[];
      });
      expect(got[0]).toBeCloseTo(ref.loss, 5);
      expect(got[1]).toBeCloseTo(ref.ce, 5);
      expect(got[2]).toBeCloseTo(ref.kl, 5);
    }
  });

  it("KL is zero for identical logits and positive otherwise", () => {
    const a = rand(40, 3);
    const b = rand(40, 4);
    const [same, other] = tf.tidy(() => [softTargetKl(tf.tensor2d(a, [4, 10]), tf.tensor2d(a, [4, 10]), 1).dataSync()[0], softTargetKl(tf.tensor2d(b, [4, 10]), tf.tensor2d(a, [4, 10]), 1).dataSync()[0]]);
    expect(same).toBe(0);
    expect(other).toBeGreaterThan(0.1);
  });

  it("rejects alpha outside [0, 1] and a temperature that is not > 0, naming the field", () => {
    const teacher = teacherFromArrays(TINY, initParams(TINY, 1));
    const student = fullModelStudent(TINY);
    expect(() => distillationObjective(student, teacher, { alpha: 1.5, temperature: 1 })).toThrow(/distillation\.alpha/);
    expect(() => distillationObjective(student, teacher, { alpha: 0.5, temperature: 0 })).toThrow(DistillConfigError);
    teacher.dispose();
  });
});

describe("distillationObjective", () => {
  const mb = toMicroBatches(tokenRows(2), 2, TINY.contextLength, TINY.vocabSize)[0] as MicroBatch;

  it("with α = 0 and T = 1, a student identical to its teacher has zero KL loss and zero gradient", () => {
    const weights = initParams(TINY, 11);
    const teacher = teacherFromArrays(TINY, weights);
    const objective = distillationObjective(fullModelStudent(TINY), teacher, { alpha: 0, temperature: 1 });
    const params = importParams(TINY, weights);
    const { loss, kl, grads, maxGrad } = tf.tidy(() => {
      const parts = objective.parts(params, mb);
      const g = objective.gradients(params, mb, {});
      const max = Math.max(...g.grads.map((t) => tf.max(tf.abs(t)).dataSync()[0] as number));
      return { loss: g.value.dataSync()[0] as number, kl: parts.kl.dataSync()[0] as number, grads: g.grads.length, maxGrad: max };
    });
    expect(kl).toBe(0);
    expect(Math.abs(loss)).toBeLessThan(1e-7);
    expect(grads).toBe(objective.trainable.length);
    expect(maxGrad).toBeLessThan(1e-7);

    // The same setting with a different student: the KL and its gradient are not zero, so the check above can fail.
    const other = importParams(TINY, initParams(TINY, 12));
    const otherMax = tf.tidy(() => Math.max(...objective.gradients(other, mb, {}).grads.map((t) => tf.max(tf.abs(t)).dataSync()[0] as number)));
    expect(otherMax).toBeGreaterThan(1e-4);
    tf.dispose([...params, ...other]);
    teacher.dispose();
  });

  it("with α = 1 is plain training: the loss and every gradient equal the full-model objective's", () => {
    const teacher = teacherFromArrays(TINY, initParams(TINY, 5));
    const distill = distillationObjective(fullModelStudent(TINY), teacher, { alpha: 1, temperature: 2 });
    const plain = fullModelObjective(TINY);
    const params = importParams(TINY, initParams(TINY, 6));
    const diff = tf.tidy(() => {
      const a = distill.gradients(params, mb, {});
      const b = plain.gradients(params, mb, {});
      const gd = Math.max(...a.grads.map((g, i) => tf.max(tf.abs(tf.sub(g, b.grads[i] as tf.Tensor))).dataSync()[0] as number));
      return { loss: Math.abs((a.value.dataSync()[0] as number) - (b.value.dataSync()[0] as number)), grad: gd };
    });
    expect(diff.loss).toBe(0);
    expect(diff.grad).toBe(0);
    tf.dispose(params);
    teacher.dispose();
  });

  it("builds only weighted terms: α = 1 never runs the teacher, α = 0 is T²·KL alone; α < 1 needs teacher logits", () => {
    const teacher = teacherFromArrays(TINY, initParams(TINY, 5));
    let teacherRuns = 0;
    const counted = { ...teacher, config: teacher.config, weights: teacher.weights, logits: (x: tf.Tensor2D) => (teacherRuns++, teacher.logits(x)) };
    const params = importParams(TINY, initParams(TINY, 6));
    tf.tidy(() => {
      distillationObjective(fullModelStudent(TINY), counted, { alpha: 1, temperature: 2 }).gradients(params, mb, {});
      expect(teacherRuns).toBe(0);
      distillationObjective(fullModelStudent(TINY), counted, { alpha: 0.5, temperature: 2 }).gradients(params, mb, {});
      expect(teacherRuns).toBe(1);
    });
    const s = rand(30, 7);
    const t = rand(30, 8);
    const [value, kl] = tf.tidy(() => {
      const sl = tf.tensor3d(s, [2, 3, 5]);
      const tl = tf.tensor3d(t, [2, 3, 5]);
      const v = distillationLossValue(sl, tl, tf.tensor2d([0, 1, 2, 3, 4, 0], [2, 3], "int32"), { alpha: 0, temperature: 3 });
      return [v.dataSync()[0], tf.mul(softTargetKl(tl, sl, 3), 9).dataSync()[0]] as number[];
    });
    expect(value).toBe(kl);
    expect(() => tf.tidy(() => distillationLossValue(tf.zeros([1, 2, 5]), undefined, tf.zeros([1, 2], "int32"), { alpha: 0.5, temperature: 1 }))).toThrow(DistillConfigError);
    tf.dispose(params);
    teacher.dispose();
  });

  it("trains a student of another size than the teacher; the teacher gets no gradient and leaks nothing", () => {
    const teacher = teacherFromArrays(TINY, initParams(TINY, 5));
    const small = { ...TINY, layers: 1, dModel: 16, heads: 2, kvHeads: 2, hidden: 32 };
    const objective = distillationObjective(fullModelStudent(small), teacher, { alpha: 0.5, temperature: 2 });
    const params = importParams(small, initParams(small, 6));
    const before = tf.memory().numTensors;
    const shapes = tf.tidy(() => objective.gradients(params, mb, {}).grads.map((g) => g.shape.join("x")));
    expect(tf.memory().numTensors).toBe(before);
    expect(shapes).toEqual(objective.trainable.map((s) => s.shape.join("x")));
    const evalCe = tf.tidy(() => objective.evalLoss(params, mb).dataSync()[0] as number);
    const plainCe = tf.tidy(() => fullModelObjective(small).evalLoss(params, mb).dataSync()[0] as number);
    expect(evalCe).toBe(plainCe);
    tf.dispose(params);
    teacher.dispose();
  });
});

describe("checkTeacherCompatible", () => {
  const side = (vocabSize: number, contextLength = 16, tokenizer?: "gpt2" | "bytes") => ({
    config: { vocabSize, contextLength, positionalEncoding: "learned" as const },
    ...(tokenizer === undefined ? {} : { tokenizer }),
  });

  it("names the tokenizer, vocabulary or context that differs", () => {
    expect(() => checkTeacherCompatible(side(64, 16, "gpt2"), side(64, 16, "bytes"))).toThrow(/tokenizer bytes differs from the student's gpt2/);
    expect(() => checkTeacherCompatible(side(64), side(128))).toThrow(TeacherMismatchError);
    expect(() => checkTeacherCompatible(side(64), side(128))).toThrow(/vocabSize 128 differs from the student's 64: teacher and student must share a tokenizer/);
    expect(() => checkTeacherCompatible(side(64, 32), side(64, 16))).toThrow(/contextLength 16/);
    expect(() => checkTeacherCompatible(side(64, 16, "gpt2"), side(64, 32, "gpt2"))).not.toThrow();
  });

  it("distillationObjective refuses a teacher of another vocabulary", () => {
    const teacher = teacherFromArrays({ ...TINY, vocabSize: 80 }, initParams({ ...TINY, vocabSize: 80 }, 1));
    expect(() => distillationObjective(fullModelStudent(TINY), teacher, { alpha: 0.5, temperature: 2 })).toThrow(TeacherMismatchError);
    teacher.dispose();
  });
});
