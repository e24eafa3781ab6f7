// Factorizing a model: which matrices, how many parameters, the reported errors, and training in factorized form.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/backend/select-backend.js";
import type { NamedArray } from "../../src/checkpoint/named-array.js";
import { SoloCollective } from "../../src/collective/collective.js";
import { FactorPlanError, factorizedLayout, parameterReduction, planFactorization } from "../../src/factorize/factorize-plan.js";
import { expandFactors, factorizeWeights } from "../../src/factorize/factorize-weights.js";
import { factorizedForward, factorizedObjective } from "../../src/factorize/factorized-objective.js";
import { forward } from "../../src/model/gpt.js";
import { structureWeights } from "../../src/model/gpt-weights.js";
import { initParams } from "../../src/model/init-params.js";
import { importParams, importTensors } from "../../src/model/param-io.js";
import { parameterCount } from "../../src/model/param-layout.js";
import { Trainer } from "../../src/train/trainer.js";
import { TINY, tinyTrain, tokenRows } from "../model/tiny.js";

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
});

const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - (b[i] as number))), 0);

describe("planFactorization", () => {
  it("names the matrices of the chosen targets and layers, each at min(r, d_in, d_out)", () => {
    const plan = planFactorization(TINY, { targets: ["q", "up", "down"], rank: 4, layers: [1] });
    expect(plan.factors).toEqual([
      { name: "h.1.attn.q", dIn: 32, dOut: 32, rank: 4 },
      { name: "h.1.mlp.fc", dIn: 32, dOut: 128, rank: 4 },
      { name: "h.1.mlp.proj", dIn: 128, dOut: 32, rank: 4 },
    ]);
    const swiglu = planFactorization({ ...TINY, activation: "swiglu" }, { targets: ["up"], rank: 2 });
    expect(swiglu.factors.map((f) => f.name)).toEqual(["h.0.mlp.fc", "h.0.mlp.gate", "h.1.mlp.fc", "h.1.mlp.gate"]);
  });

  it("keeps a matrix dense when its pair would not be smaller, and says why", () => {
    const plan = planFactorization(TINY, { targets: ["q", "up"], rank: 16, layers: [0] });
    expect(plan.factors.map((f) => f.name)).toEqual(["h.0.mlp.fc"]);
    expect(plan.kept).toEqual([{ name: "h.0.attn.q", reason: "rank 16 × (32 + 32) is not fewer than 32 × 32 parameters" }]);
  });

  it("refuses a bad rank, target or layer", () => {
    expect(() => planFactorization(TINY, { targets: ["q"], rank: 0 })).toThrow(FactorPlanError);
    expect(() => planFactorization(TINY, { targets: [], rank: 2 })).toThrow(/at least one target/);
    expect(() => planFactorization(TINY, { targets: ["q"], rank: 2, layers: [2] })).toThrow(/layer 2 is outside \[0, 2\)/);
  });

  it("counts the parameter reduction: each W [d_in, d_out] becomes r·(d_in + d_out)", () => {
    const plan = planFactorization(TINY, { targets: ["q", "k", "v", "o", "up", "down"], rank: 4 });
    const r = parameterReduction(TINY, plan);
    const perLayer = 4 * (32 * 32) + 2 * (32 * 128);
    const perLayerAfter = 4 * 4 * 64 + 2 * 4 * 160;
    expect(r.before).toBe(parameterCount(TINY));
    expect(r.matricesBefore).toBe(2 * perLayer);
    expect(r.matricesAfter).toBe(2 * perLayerAfter);
    expect(r.after).toBe(r.before - 2 * perLayer + 2 * perLayerAfter);
    expect(factorizedLayout(TINY, plan).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0)).toBe(r.after);
  });
});

describe("factorizeWeights", () => {
  const weights = initParams(TINY, 21);

  it("reports error = tail of the singular values, and full rank reproduces every matrix", () => {
    const low = factorizeWeights(TINY, weights, planFactorization(TINY, { targets: ["up"], rank: 4 }));
    for (const r of low.reports) {
      expect(r.error).toBeGreaterThan(0);
      expect(Math.abs(r.error - r.tail) / r.tail).toBeLessThan(1e-5);
      expect(r.energyKept).toBeGreaterThan(0);
      expect(r.energyKept).toBeLessThan(1);
    }
    // At full rank (32 for 32 × 128) the pair is larger than W, so planFactorization would keep it dense: plan by hand.
    const full = { factors: [{ name: "h.0.mlp.fc", dIn: 32, dOut: 128, rank: 32 }], kept: [] };
    const f = factorizeWeights(TINY, weights, full);
    const dense = expandFactors(TINY, f.weights, full);
    const original = weights.find((w) => w.name === "h.0.mlp.fc") as NamedArray;
    const back = dense.find((w) => w.name === "h.0.mlp.fc") as NamedArray;
    expect(maxAbs(back.data as Float32Array, original.data as Float32Array)).toBeLessThan(1e-6);
    // Every other tensor is carried over bit for bit.
    dense.forEach((w, i) => {
      if (w.name !== "h.0.mlp.fc") expect(Buffer.from(w.data.buffer).equals(Buffer.from((weights[i] as NamedArray).data.buffer))).toBe(true);
    });
  });

  it("the factorized forward gives the logits of the multiplied-out model", () => {
    const plan = planFactorization(TINY, { targets: ["q", "v", "up", "down"], rank: 3 });
    const f = factorizeWeights(TINY, weights, plan);
    const dense = expandFactors(TINY, f.weights, plan);
    const tokens = tf.tensor2d(tokenRows(2)[0]?.subarray(0, 16) ?? [], [1, 16], "int32");
    const flat = importTensors(factorizedLayout(TINY, plan), f.weights);
    const denseFlat = importParams(TINY, dense);
    const [a, b] = tf.tidy(() => [factorizedForward(TINY, plan, flat, tokens).dataSync() as Float32Array, forward(TINY, structureWeights(TINY, denseFlat), tokens).dataSync() as Float32Array]);
    expect(maxAbs(a as Float32Array, b as Float32Array)).toBeLessThan(1e-4);
    tf.dispose([...flat, ...denseFlat, tokens]);
  });
});

describe("factorizedObjective", () => {
  it("trains U and V directly: only the factorized layout is in the optimizer, and the loss falls", async () => {
    const model = { ...TINY, layers: 1 };
    const plan = planFactorization(model, { targets: ["q", "k", "v", "o", "up", "down"], rank: 4 });
    const objective = factorizedObjective(model, plan);
    const schedule = { type: "constant" as const, peakLr: 1e-2, warmupSteps: 0, minLrRatio: 1, totalSteps: 25 };
    const t = new Trainer(tinyTrain({ globalBatchSize: 2, microBatchSize: 2, schedule }, { layers: 1 }), new SoloCollective(), { objective });
    const rows = tokenRows(2);
    const first = await t.step(0, rows);
    let last = first;
    for (let s = 1; s < 15; s++) last = await t.step(s, rows);
    const state = await t.exportState();
    expect(state.params.map((p) => p.name)).toEqual(objective.trainable.map((s) => s.name));
    expect(state.params.some((p) => p.name === "h.0.attn.q")).toBe(false);
    expect(state.params.find((p) => p.name === "h.0.attn.q.u")?.shape).toEqual([32, 4]);
    expect(state.optimizer.filter((o) => o.name.startsWith("m.")).length).toBe(objective.trainable.length);
    expect(last).toBeLessThan(0.8 * first);
    t.dispose();
  });
});
