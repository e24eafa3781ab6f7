import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../../src/backend/select-backend.js";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeCompressedModel, encodeCompressedModel } from "../../src/compress/compressed-model.js";
import { dequantizeInt8, quantizeInt8 } from "../../src/compress/int8.js";
import { linearWeights } from "../../src/compress/linear-weights.js";
import { perplexityOf } from "../../src/eval/perplexity.js";
import { encodeSafetensors } from "../../src/checkpoint/safetensors.js";
import { modelWeights } from "../../src/model-source/load-model.js";
import { validateModelConfig } from "../../src/model/model-config.js";
import { corpusRows, trainedTiny } from "./trained-tiny.js";

beforeAll(async () => {
  await selectBackend({ order: ["wasm", "cpu"] });
});

describe("int8 per-channel quantization", () => {
  it("dequantizes every element within half its channel's scale, and the largest one exactly", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.boolean(), fc.array(fc.float({ min: -4, max: 4, noNaN: true }), { minLength: 36, maxLength: 36 }), (rows, cols, byRow, pool) => {
        const w = Float32Array.from({ length: rows * cols }, (_, i) => pool[i] ?? 0);
        const m = quantizeInt8(w, rows, cols, byRow ? "row" : "column");
        const back = dequantizeInt8(m);
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) {
            const s = m.scales[byRow ? r : c] as number;
            expect(Math.abs((back[r * cols + c] as number) - (w[r * cols + c] as number))).toBeLessThanOrEqual(s / 2 + 1e-6 * s);
            expect(Math.abs(m.q[r * cols + c] as number)).toBeLessThanOrEqual(127);
          }
        }
      }),
      { numRuns: 100 },
    );
    const m = quantizeInt8(Float32Array.of(1, -0.5, 0.25, 0, 2, -8), 2, 3, "column");
    expect(Array.from(m.scales)).toEqual([1 / 127, 2 / 127, 8 / 127].map((x) => Math.fround(x)));
    expect(Array.from(m.q)).toEqual([127, -32, 4, 0, 127, -127]);
  });

  it("shrinks the file ~4× on the linear layers and keeps perplexity within 1% of fp32", async () => {
    const { config, arrays } = await trainedTiny();
    const rows = corpusRows(16, config, 1000);
    const fp32 = modelWeights({ config, arrays });
    const base = await perplexityOf(config, fp32.weights, rows);
    tf.dispose(fp32.flat);

    const bytes = encodeCompressedModel(config, "bytes", arrays, { quantization: "int8-per-channel" });
    const dense = encodeSafetensors(arrays);
    const decoded = decodeCompressedModel(bytes, "test", validateModelConfig);
    const q = modelWeights(decoded);
    const quant = await perplexityOf(config, q.weights, rows);
    tf.dispose(q.flat);

    // Trained: far below the uniform perplexity of 64.
    expect(base.perplexity).toBeLessThan(20);
    expect(Math.abs(quant.perplexity - base.perplexity) / base.perplexity).toBeLessThan(0.01);
    expect(quant.perplexity).not.toBe(base.perplexity);
    // Linear weights go from 4 bytes to 1 (+ one scale per channel); TINY is nearly all linear weights.
    const linear = linearWeights(config).reduce((n, l) => n + l.rows * l.cols, 0);
    const total = arrays.reduce((n, a) => n + a.data.length, 0);
    expect(linear / total).toBeGreaterThan(0.9);
    expect(bytes.length / dense.length).toBeLessThan(0.35);
    expect(decoded.info.quantization).toBe("int8-per-channel");
    // Unquantized tensors come back bit for bit.
    const lnIn = arrays.find((a) => a.name === "h.0.ln_1.g");
    expect(decoded.arrays.find((a) => a.name === "h.0.ln_1.g")?.data).toEqual(lnIn?.data);
  }, 30_000);
});
