// The adapted forward: a fresh LoRA or adapter computes bitwise the base model's logits; a LoRA merged into the base
// computes the adapted logits (within float32 rounding); the gradients the tape gives for LoRA and adapter tensors
// match finite differences of the loss.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/backend/select-backend.js";
import { counterNormals } from "../../src/model/counter-seed.js";
import { structureWeights } from "../../src/model/gpt-weights.js";
import { importParams } from "../../src/model/param-io.js";
import { attachPeft } from "../../src/peft/attach-peft.js";
import { mergePeft, PeftMergeError } from "../../src/peft/merge-lora.js";
import type { PeftConfig } from "../../src/peft/peft-config.js";
import { initPeftParams } from "../../src/peft/peft-layout.js";
import { peftObjective } from "../../src/peft/peft-objective.js";
import { toMicroBatches } from "../../src/train/micro-batches.js";
import { TINY, tokenRows } from "../model/tiny.js";
import { ADAPTER, LORA, baseArrays, logitsOf, randomPeft, tensorsOf } from "./fixtures.js";

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
});

const tokens = Int32Array.from((tokenRows(1)[0] as Int32Array).subarray(0, 16));

describe("adapted forward", () => {
  it.each<[string, PeftConfig]>([
    ["LoRA", LORA],
    ["adapters", ADAPTER],
  ])("fresh %s (identity init) gives bitwise the base logits; trained values change them", async (_name, peft) => {
    const base = importParams(TINY, baseArrays());
    const w = structureWeights(TINY, base);
    const plain = await logitsOf(TINY, w, tokens);
    const fresh = tensorsOf(initPeftParams(TINY, peft, 1));
    const adapted = await logitsOf(TINY, attachPeft(TINY, peft, w, fresh), tokens);
    expect(Buffer.from(adapted.buffer).equals(Buffer.from(plain.buffer))).toBe(true);
    const moved = tensorsOf(randomPeft(TINY, peft));
    const changed = await logitsOf(TINY, attachPeft(TINY, peft, w, moved), tokens);
    expect(Math.max(...changed.map((x, i) => Math.abs(x - (plain[i] as number))))).toBeGreaterThan(1e-3);
    tf.dispose([...base, ...fresh, ...moved]);
  });

  it("merged LoRA logits equal the adapted logits: max |Δ| ≤ 1e-5 · (1 + max |logit|)", async () => {
    const config = { ...TINY, activation: "swiglu" as const, kvHeads: 2 };
    const baseA = baseArrays(config);
    const lora = randomPeft(config, LORA, 9, 0.2);
    const base = importParams(config, baseA);
    const factors = tensorsOf(lora);
    const adapted = await logitsOf(config, attachPeft(config, LORA, structureWeights(config, base), factors), tokens);
    const merged = importParams(config, mergePeft(config, LORA, baseA, lora));
    const direct = await logitsOf(config, structureWeights(config, merged), tokens);
    const plain = await logitsOf(config, structureWeights(config, base), tokens);
    const scale = 1 + Math.max(...adapted.map(Math.abs));
    const diff = Math.max(...direct.map((x, i) => Math.abs(x - (adapted[i] as number))));
    expect(diff).toBeLessThanOrEqual(1e-5 * scale);
    // And the merge did something: the adapted model differs from the base by far more than that.
    expect(Math.max(...plain.map((x, i) => Math.abs(x - (adapted[i] as number))))).toBeGreaterThan(1e3 * diff);
    // Untargeted weights are copied exactly (gate is not a LoRA target).
    expect([...(mergePeft(config, LORA, baseA, lora).find((x) => x.name === "h.0.mlp.gate")?.data ?? [])]).toEqual([...(baseA.find((x) => x.name === "h.0.mlp.gate")?.data ?? [])]);
    tf.dispose([...base, ...factors, ...merged]);
  });

  it("adapters cannot be merged: a typed error that says why", () => {
    expect(() => mergePeft(TINY, ADAPTER, baseArrays(), randomPeft(TINY, ADAPTER))).toThrow(PeftMergeError);
    expect(() => mergePeft(TINY, ADAPTER, baseArrays(), randomPeft(TINY, ADAPTER))).toThrow(/nonlinearity/);
  });
});

describe("gradient check (cpu, float32)", () => {
  // Central differences along a unit direction within one tensor at a time: (L(x + εd) − L(x − εd)) / 2ε against
  // ∇L·d. With ε = 1e-2 the float32 rounding of L (~5e-7) costs ~3e-5 absolute; the relative tolerance is 1e-2.
  const EPS = 1e-2;
  const REL = 1e-2;
  it.each<[string, PeftConfig]>([
    ["LoRA", { ...LORA, targets: ["q", "v", "o", "up", "down"] }],
    ["adapters", ADAPTER],
  ])("%s: every trainable tensor's gradient matches finite differences", async (_name, peft) => {
    // A base with 8× the init scale: sharper predictions, gradients well above float32's finite-difference noise.
    const sharp = baseArrays().map((a) => (a.shape.length === 2 ? { ...a, data: (a.data as Float32Array).map((x) => 8 * x) } : a));
    const objective = peftObjective(TINY, peft, sharp);
    const values = randomPeft(TINY, peft, 3, 0.3);
    const trainable = tensorsOf(values);
    const [mb] = toMicroBatches(tokenRows(2, 8, 64, 21), 2, 16, 64);
    if (mb === undefined) throw new Error("no batch");
    const { value, grads } = tf.tidy(() => {
      const r = objective.gradients(trainable, mb, {});
      return { value: r.value, grads: r.grads };
    });
    const lossAt = async (i: number, dir: tf.Tensor, sign: number): Promise<number> => {
      const moved = trainable.map((t, j) => (j === i ? tf.add(t, tf.mul(dir, sign * EPS)) : t));
      const l = objective.evalLoss(moved, mb);
      const v = (await l.data())[0] as number;
      tf.dispose([l, moved[i] as tf.Tensor]);
      return v;
    };
    let checked = 0;
    for (let i = 0; i < trainable.length; i++) {
      const t = trainable[i] as tf.Tensor;
      // Half along the gradient, half random: a unit direction that sees both the gradient's length and its parts.
      const g = (await (grads[i] as tf.Tensor).data()) as Float32Array;
      const r = counterNormals(77 + i, t.size, 1);
      const [gn, rn] = [Math.hypot(...g), Math.hypot(...r)];
      const mixed = g.map((x, k) => x / gn + (r[k] as number) / rn);
      const dir = tf.tensor(mixed.map((x) => x / Math.hypot(...mixed)), t.shape, "float32");
      const analytic = (await tf.sum(tf.mul(grads[i] as tf.Tensor, dir)).data())[0] as number;
      const numeric = ((await lossAt(i, dir, 1)) - (await lossAt(i, dir, -1))) / (2 * EPS);
      expect(Math.abs(analytic), `${values[i]?.name}: a gradient worth checking`).toBeGreaterThan(1e-2);
      expect(Math.abs(numeric - analytic) / Math.abs(analytic), `${values[i]?.name}: analytic ${analytic}, numeric ${numeric}`).toBeLessThan(REL);
      dir.dispose();
      checked++;
    }
    expect(checked).toBe(values.length);
    tf.dispose([value, ...grads, ...trainable]);
    objective.dispose();
  });
});
