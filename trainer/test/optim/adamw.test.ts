import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/backend/select-backend.js";
import { ParamImportError } from "../../src/model/param-io.js";
import { ADAMW_STEP_NAME, AdamW } from "../../src/optim/adamw.js";
import { decays } from "../../src/optim/weight-decay.js";

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
});

const hyper = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

describe("AdamW", () => {
  it("matches a hand-computed update for two steps, decaying matrices only", async () => {
    const opt = new AdamW([{ name: "w", shape: [1, 2] }, { name: "b", shape: [2] }], hyper);
    let params: tf.Tensor[] = [tf.tensor2d([[1, -2]]), tf.tensor1d([0.5, 0])];
    const lr = 0.1;
    const g1 = [tf.tensor2d([[0.5, -1]]), tf.tensor1d([2, 0])];
    params = opt.apply(params, g1, lr);
    // Step 1: m = 0.1g, v = 0.05g², m̂ = g, v̂ = g², so the step is lr·g/(|g| + eps) = ±0.1; w also decays by lr·wd.
    // w0: 1·(1 − 0.01) − 0.1 = 0.89; w1: −2·0.99 + 0.1 = −1.88; b0: 0.5 − 0.1 = 0.4; b1: g = 0 → unchanged.
    expect(Array.from(await (params[0] as tf.Tensor).data())).toEqual([0.89, -1.88].map(Math.fround));
    const b = Array.from(await (params[1] as tf.Tensor).data());
    expect(b[0]).toBeCloseTo(0.4, 6);
    expect(b[1]).toBe(0);
    // Step 2 with g = 1 for w0: m = 0.9·0.05 + 0.1 = 0.145, v = 0.95·0.0125 + 0.05 = 0.061875,
    // bc1 = 0.19, bc2 = 0.0975: Δ = 0.1/0.19 · 0.145 / (√0.061875/√0.0975 + 1e-8).
    const g2 = [tf.tensor2d([[1, 0]]), tf.tensor1d([0, 0])];
    params = opt.apply(params, g2, lr);
    const expected = 0.89 * (1 - 0.01) - (0.1 / 0.19) * (0.145 / (Math.sqrt(0.061875) / Math.sqrt(0.0975) + 1e-8));
    expect((await (params[0] as tf.Tensor).data())[0]).toBeCloseTo(expected, 5);
    expect(opt.stepCount).toBe(2);
    tf.dispose([...params, ...g1, ...g2]);
    opt.dispose();
  });

  it("exports m, v and the step, and a restored optimizer continues bit for bit", async () => {
    const specs = [{ name: "w", shape: [3, 2] }];
    const grad = (k: number) => [tf.tensor2d([0.1 * k, -0.2, 0.3, 0.05 * k, -1, 2], [3, 2])];
    const a = new AdamW(specs, hyper);
    let pa: tf.Tensor[] = [tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2])];
    for (let k = 1; k <= 3; k++) pa = a.apply(pa, grad(k), 0.01);
    const state = await a.exportState();
    expect(state.map((s) => s.name)).toEqual(["m.w", "v.w", ADAMW_STEP_NAME]);
    expect(Array.from(state[2]?.data ?? [])).toEqual([3]);
    const b = new AdamW(specs, hyper);
    b.importState(state);
    let pb: tf.Tensor[] = [tf.tensor2d(await (pa[0] as tf.Tensor).data(), [3, 2])];
    for (let k = 4; k <= 5; k++) {
      pa = a.apply(pa, grad(k), 0.01);
      pb = b.apply(pb, grad(k), 0.01);
    }
    const da = (await (pa[0] as tf.Tensor).data()) as Float32Array;
    const db = (await (pb[0] as tf.Tensor).data()) as Float32Array;
    expect(Buffer.from(db.buffer).equals(Buffer.from(da.buffer))).toBe(true);
    expect(() => b.importState(state.filter((s) => s.name !== "v.w"))).toThrow(ParamImportError);
    expect(() => b.importState(state.slice(0, 2))).toThrow(/adamw.step/);
  });

  it("decays matrices (including embeddings) but not vectors (norms, biases)", () => {
    expect(decays([64, 32])).toBe(true);
    expect(decays([32])).toBe(false);
  });
});
