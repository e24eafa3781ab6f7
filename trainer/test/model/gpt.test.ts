import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/backend/select-backend.js";
import { rotaryTables } from "../../src/model/attention-constants.js";
import { block, forward } from "../../src/model/gpt.js";
import { blockWeightList, structureWeights } from "../../src/model/gpt-weights.js";
import { initParams } from "../../src/model/init-params.js";
import type { ModelConfig } from "../../src/model/model-config.js";
import { exportParams, importParams, ParamImportError } from "../../src/model/param-io.js";
import { TINY, tokenRows } from "./tiny.js";

beforeAll(async () => {
  await selectBackend({ order: ["cpu"] });
});

async function logits(config: ModelConfig, tokens: Int32Array, batch: number, seed = 3, opts = {}): Promise<Float32Array> {
  const params = importParams(config, initParams(config, seed));
  const out = tf.tidy(() => forward(config, structureWeights(config, params), tf.tensor2d(tokens, [batch, tokens.length / batch], "int32"), opts));
  expect(out.shape).toEqual([batch, tokens.length / batch, config.vocabSize]);
  const data = (await out.data()) as Float32Array;
  tf.dispose([out, ...params]);
  return data;
}

const VARIANTS: [string, Partial<ModelConfig>][] = [
  ["MHA", {}],
  ["GQA", { kvHeads: 2 }],
  ["MQA", { kvHeads: 1 }],
  ["SwiGLU", { activation: "swiglu" }],
  ["rotary", { positionalEncoding: "rotary" }],
  ["untied", { tieEmbeddings: false }],
];

describe("forward", () => {
  it.each(VARIANTS)("%s: logits [B, T, vocab], and no token sees the future", async (_name, over) => {
    const config = { ...TINY, ...over };
    const T = config.contextLength;
    const tokens = Int32Array.from((tokenRows(2)[0] as Int32Array).subarray(0, T));
    const changed = tokens.slice();
    changed[10] = ((changed[10] as number) + 1) % config.vocabSize;
    const a = await logits(config, tokens, 1);
    const b = await logits(config, changed, 1);
    const V = config.vocabSize;
    let before = 0;
    let after = 0;
    for (let i = 0; i < T * V; i++) {
      const d = Math.abs((a[i] as number) - (b[i] as number));
      if (i < 10 * V) before = Math.max(before, d);
      else after = Math.max(after, d);
    }
    expect(before).toBe(0); // positions 0..9 are bit-identical
    expect(after).toBeGreaterThan(1e-4); // and position 10 onwards did change
  });

  it("GQA equals MHA whose K and V heads are repeated per group (query head h reads KV head h / G)", async () => {
    const gqa: ModelConfig = { ...TINY, kvHeads: 2 };
    const mha: ModelConfig = { ...TINY, kvHeads: 4 };
    const hd = TINY.dModel / TINY.heads;
    const weights = initParams(gqa, 9).map((p) => {
      if (!/attn\.(k|v)(_b)?$/.test(p.name)) return p;
      const rows = p.shape.length === 2 ? (p.shape[0] as number) : 1;
      const cols = 2 * hd;
      const out = new Float32Array(rows * 4 * hd);
      for (let r = 0; r < rows; r++) {
        for (let h = 0; h < 4; h++) {
          const kv = Math.floor(h / 2);
          out.set(p.data.subarray(r * cols + kv * hd, r * cols + (kv + 1) * hd) as Float32Array, r * 4 * hd + h * hd);
        }
      }
      return { name: p.name, shape: p.shape.length === 2 ? [rows, 4 * hd] : [4 * hd], data: out };
    });
    const tokens = Int32Array.from((tokenRows(2)[1] as Int32Array).subarray(0, 16));
    const run = async (config: ModelConfig, arrays: typeof weights) => {
      const params = importParams(config, arrays);
      const out = tf.tidy(() => forward(config, structureWeights(config, params), tf.tensor2d(tokens, [1, 16], "int32")));
      const d = (await out.data()) as Float32Array;
      tf.dispose([out, ...params]);
      return d;
    };
    const a = await run(gqa, initParams(gqa, 9));
    const b = await run(mha, weights);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    expect(diff).toBeLessThan(1e-5);
  });

  it("dropout masks are a pure function of (seed, step, rank, micro, layer, site)", async () => {
    const config = { ...TINY, dropout: 0.2 };
    const tokens = Int32Array.from((tokenRows(1)[0] as Int32Array).subarray(0, 16));
    const ctx = { baseSeed: 1, step: 4, rank: 0, micro: 0 };
    const a = await logits(config, tokens, 1, 3, { dropout: ctx });
    const again = await logits(config, tokens, 1, 3, { dropout: { ...ctx } });
    const otherStep = await logits(config, tokens, 1, 3, { dropout: { ...ctx, step: 5 } });
    const otherRank = await logits(config, tokens, 1, 3, { dropout: { ...ctx, rank: 1 } });
    const eval_ = await logits(config, tokens, 1, 3);
    expect(Buffer.from(again.buffer).equals(Buffer.from(a.buffer))).toBe(true);
    expect(Buffer.from(otherStep.buffer).equals(Buffer.from(a.buffer))).toBe(false);
    expect(Buffer.from(otherRank.buffer).equals(Buffer.from(a.buffer))).toBe(false);
    expect(Buffer.from(eval_.buffer).equals(Buffer.from(a.buffer))).toBe(false);
  });

  it("differentiates one block on its own, weights as explicit inputs (for recomputation)", () => {
    const params = importParams(TINY, initParams(TINY, 1));
    const w = structureWeights(TINY, params);
    const b0 = w.blocks[0];
    if (b0 === undefined) throw new Error("no block");
    const list = blockWeightList(b0);
    expect(list).toHaveLength(16);
    const x = tf.randomNormal([2, 16, 32], 0, 1, "float32", 1);
    const dy = tf.onesLike(x);
    const grads = tf.grads((xin: tf.Tensor, ...ws: tf.Tensor[]) => {
      const bw = structureWeights(TINY, params.map((p) => (list.includes(p) ? (ws[list.indexOf(p)] as tf.Tensor) : p))).blocks[0];
      if (bw === undefined) throw new Error("no block");
      return block(TINY, 0, bw, xin as tf.Tensor3D);
    })([x, ...list], dy);
    expect(grads.map((g) => g.shape)).toEqual([x.shape, ...list.map((t) => t.shape)]);
    tf.dispose([...params, x, dy, ...grads]);
  });
});

describe("rotary tables", () => {
  it("are the identity at position 0 and rotate by base^(-2j/hd) after", () => {
    const { cos, sin } = rotaryTables(4, 8);
    expect(Array.from(cos.subarray(0, 8))).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(sin.subarray(0, 8))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(cos[8 * 2 + 1]).toBeCloseTo(Math.cos(2 * Math.pow(10000, -2 / 8)), 6);
    expect(cos[8 * 2 + 5]).toBe(cos[8 * 2 + 1]); // rotate-half: column j + hd/2 shares j's frequency
  });
});

describe("initParams and param I/O", () => {
  it("is deterministic in the seed and GPT-2 scaled", () => {
    const a = initParams(TINY, 42);
    const b = initParams(TINY, 42);
    const c = initParams(TINY, 43);
    a.forEach((p, i) => expect(Buffer.from(p.data.buffer).equals(Buffer.from((b[i]?.data as Float32Array).buffer))).toBe(true));
    expect(Buffer.from((a[0]?.data as Float32Array).buffer).equals(Buffer.from((c[0]?.data as Float32Array).buffer))).toBe(false);
    const wte = a[0]?.data as Float32Array;
    const mean = wte.reduce((s, x) => s + x, 0) / wte.length;
    const std = Math.sqrt(wte.reduce((s, x) => s + (x - mean) ** 2, 0) / wte.length);
    expect(Math.abs(mean)).toBeLessThan(0.002);
    expect(std).toBeGreaterThan(0.018);
    expect(std).toBeLessThan(0.022);
  });

  it("round-trips bit for bit and refuses another architecture's arrays", async () => {
    const arrays = initParams(TINY, 8);
    const tensors = importParams(TINY, arrays);
    const back = await exportParams(TINY, tensors);
    expect(back.map((p) => p.name)).toEqual(arrays.map((p) => p.name));
    back.forEach((p, i) => expect(Buffer.from(p.data.buffer).equals(Buffer.from((arrays[i]?.data as Float32Array).buffer))).toBe(true));
    tf.dispose(tensors);
    expect(() => importParams({ ...TINY, kvHeads: 2 }, arrays)).toThrow(ParamImportError);
    expect(() => importParams(TINY, arrays.slice(1))).toThrow(/wte: missing/);
    expect(() => importParams(TINY, [...arrays, { name: "extra", shape: [1], data: new Float32Array(1) }])).toThrow(/extra/);
  });
});
