// The embedding's gradient on wasm runs through our UnsortedSegmentSum kernel; it must match cpu's.
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { selectBackend, type BackendName } from "../../src/backend/select-backend.js";
import { crossEntropy, forward } from "../../src/model/gpt.js";
import { structureWeights } from "../../src/model/gpt-weights.js";
import { initParams } from "../../src/model/init-params.js";
import { importParams } from "../../src/model/param-io.js";
import { TINY, tokenRows } from "../model/tiny.js";

async function on<T>(backend: BackendName, f: () => Promise<T>): Promise<T> {
  await selectBackend({ order: [backend] });
  return f();
}

/** d loss / d wte for the tiny model (tied, so both the lookup and the head contribute), as plain numbers. */
async function wteGrad(): Promise<Float32Array> {
  const params = importParams(TINY, initParams(TINY, 5));
  const rows = tokenRows(3);
  const inputs = tf.tensor2d(rows.flatMap((r) => Array.from(r.subarray(0, TINY.contextLength))), [3, TINY.contextLength], "int32");
  const targets = tf.tensor2d(rows.flatMap((r) => Array.from(r.subarray(1))), [3, TINY.contextLength], "int32");
  const grads = tf.grads((...flat: tf.Tensor[]) => crossEntropy(forward(TINY, structureWeights(TINY, flat), inputs), targets))(params);
  const out = (await (grads[0] as tf.Tensor).data()) as Float32Array;
  tf.dispose([...params, ...grads, inputs, targets]);
  return out;
}

async function gatherGrad(): Promise<Float32Array> {
  const table = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]);
  const ids = tf.tensor1d([3, 0, 3, 3, 1], "int32");
  const weights = tf.tensor2d([1, 10, 2, 20, 3, 30, 4, 40, 5, 50], [5, 2]);
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), weights)))(table);
  const out = (await g.data()) as Float32Array;
  tf.dispose([table, ids, weights, g]);
  return out;
}

describe("embedding gradient on wasm", () => {
  afterAll(async () => {
    await selectBackend({ order: ["cpu"] });
  });

  it("sums repeated ids exactly (the segment sum itself)", async () => {
    // Row 3 is picked by ids 0, 2 and 3: 1+3+4 and 10+30+40; row 0 by id 1; row 1 by id 4; row 2 never.
    const expected = [2, 20, 5, 50, 0, 0, 8, 80];
    expect(Array.from(await on("wasm", gatherGrad))).toEqual(expected);
    expect(Array.from(await on("cpu", gatherGrad))).toEqual(expected);
  });

  it("matches cpu for the whole model's token-embedding gradient", async () => {
    const cpu = await on("cpu", wteGrad);
    const wasm = await on("wasm", wteGrad);
    expect(wasm.length).toBe(TINY.vocabSize * TINY.dModel);
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < cpu.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(cpu[i] as number));
      maxDiff = Math.max(maxDiff, Math.abs((cpu[i] as number) - (wasm[i] as number)));
    }
    expect(maxAbs).toBeGreaterThan(1e-4); // a real gradient, not zeros on both sides
    // Tolerance: float32 sums in different orders (SIMD matmuls, scatter order) differ by a few ulps of the largest.
    expect(maxDiff).toBeLessThan(1e-5 * Math.max(1, maxAbs) + 1e-7);
  });
});
