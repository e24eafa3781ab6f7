import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../../src/backend/select-backend.js";
import { beforeAll, describe, expect, it } from "vitest";
import { pruneModel } from "../../src/compress/prune-model.js";
import { prunedCount, wandaPrune } from "../../src/compress/wanda.js";
import { perplexityOf } from "../../src/eval/perplexity.js";
import { modelWeights } from "../../src/model-source/load-model.js";
import { corpusRows, trainedTiny } from "./trained-tiny.js";

beforeAll(async () => {
  await selectBackend({ order: ["wasm", "cpu"] });
});

/** A deterministic pseudo-random matrix. */
const matrix = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 43758.5453 % 1);

describe("Wanda pruning", () => {
  it("prunes exactly the target share of every output channel, and only its lowest |W|·‖X‖ scores", () => {
    const rows = 12;
    const cols = 5;
    const w = matrix(rows * cols, 1);
    const norms = Float32Array.from({ length: rows }, (_, i) => 0.1 + ((i * 7) % 5));
    for (const sparsity of [0.25, 0.5]) {
      const { weights, prunedPerOutput } = wandaPrune(w, rows, cols, norms, { kind: "unstructured", sparsity });
      expect(prunedPerOutput).toEqual(new Array(cols).fill(prunedCount(rows, sparsity)));
      for (let c = 0; c < cols; c++) {
        const col = Array.from({ length: rows }, (_, i) => ({ i, score: Math.abs(w[i * cols + c] as number) * (norms[i] as number), zero: weights[i * cols + c] === 0 }));
        expect(col.filter((x) => x.zero)).toHaveLength(rows * sparsity);
        // Every pruned score is at most every kept score.
        const maxPruned = Math.max(...col.filter((x) => x.zero).map((x) => x.score));
        const minKept = Math.min(...col.filter((x) => !x.zero).map((x) => x.score));
        expect(maxPruned).toBeLessThanOrEqual(minKept);
        // Kept weights are untouched.
        col.filter((x) => !x.zero).forEach((x) => expect(weights[x.i * cols + c]).toBe(w[x.i * cols + c]));
      }
    }
    // The activation norm matters: a large weight on a silent input is pruned before a small one on a loud input.
    const two = wandaPrune(Float32Array.of(5, 1), 2, 1, Float32Array.of(0.01, 10), { kind: "unstructured", sparsity: 0.5 });
    expect(Array.from(two.weights)).toEqual([0, 1]);
  });

  it("2:4 keeps the two best of every four inputs", () => {
    const w = Float32Array.of(1, 2, 3, 4, -8, 7, -6, 5);
    const { weights } = wandaPrune(w, 8, 1, new Float32Array(8).fill(1), { kind: "2:4" });
    expect(Array.from(weights)).toEqual([0, 0, 3, 4, -8, 7, 0, 0]);
  });

  it("prunes a trained model block by block to 25% and 50% of every linear row, perplexity rising with sparsity", async () => {
    const { config, arrays } = await trainedTiny();
    const calib = corpusRows(8, config, 500);
    const rows = corpusRows(16, config, 1000);
    const ppl = async (a: typeof arrays) => {
      const m = modelWeights({ config, arrays: a });
      const r = await perplexityOf(config, m.weights, rows);
      tf.dispose(m.flat);
      return r.perplexity;
    };
    const dense = await ppl(arrays);
    const results: number[] = [];
    for (const sparsity of [0.25, 0.5]) {
      const pruned = await pruneModel(config, arrays, calib, { kind: "unstructured", sparsity });
      expect(pruned.report).toHaveLength(config.layers * 6);
      for (const r of pruned.report) expect(r.sparsity).toBe(prunedCount(pruned.arrays.find((a) => a.name === r.name)?.shape[0] ?? 0, sparsity) / (pruned.arrays.find((a) => a.name === r.name)?.shape[0] ?? 1));
      // The pruned arrays themselves, [in, out]: every output column holds exactly floor(s · in) zeros.
      for (const r of pruned.report) {
        const a = pruned.arrays.find((x) => x.name === r.name);
        const [inputs, outputs] = [a?.shape[0] ?? 0, a?.shape[1] ?? 0];
        expect(inputs * outputs, r.name).toBeGreaterThan(0);
        const data = a?.data as Float32Array;
        const zeros = Array.from({ length: outputs }, (_, c) => Array.from({ length: inputs }, (_, i) => data[i * outputs + c]).filter((v) => v === 0).length);
        expect(zeros, r.name).toEqual(new Array<number>(outputs).fill(Math.floor(sparsity * inputs)));
      }
      // Embeddings, LayerNorms and biases stay dense.
      expect(pruned.arrays.find((a) => a.name === "wte")?.data).toEqual(arrays.find((a) => a.name === "wte")?.data);
      results.push(await ppl(pruned.arrays));
    }
    expect(results[0]).toBeGreaterThanOrEqual(dense * 0.99);
    expect(results[1]).toBeGreaterThan(results[0] as number);
    // No retraining, yet 25% costs little on this model.
    expect(results[0]).toBeLessThan(dense * 1.5);
  }, 60_000);
});
