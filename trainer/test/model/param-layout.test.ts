import { parseJob } from "@gantry/crds";
import { describe, expect, it } from "vitest";
import { ModelConfigError, modelConfigFromSpec, validateModelConfig } from "../../src/model/model-config.js";
import { computeParameterCount, flopsPerToken, parameterCount, paramLayout } from "../../src/model/param-layout.js";
import { TINY } from "./tiny.js";

const BLOCK_GELU = ["ln_1.g", "ln_1.b", "attn.q", "attn.q_b", "attn.k", "attn.k_b", "attn.v", "attn.v_b", "attn.o", "attn.o_b", "ln_2.g", "ln_2.b", "mlp.fc", "mlp.fc_b", "mlp.proj", "mlp.proj_b"];

describe("paramLayout", () => {
  it("names every parameter in the fixed order, GPT-2 style, tied and learned", () => {
    const names = paramLayout(TINY).map((p) => p.name);
    expect(names).toEqual(["wte", "wpe", ...BLOCK_GELU.map((n) => `h.0.${n}`), ...BLOCK_GELU.map((n) => `h.1.${n}`), "ln_f.g", "ln_f.b"]);
  });

  it("gives x·W layouts [in, out]", () => {
    const shapes = Object.fromEntries(paramLayout(TINY).map((p) => [p.name, p.shape]));
    expect(shapes["wte"]).toEqual([64, 32]);
    expect(shapes["wpe"]).toEqual([16, 32]);
    expect(shapes["h.0.attn.q"]).toEqual([32, 32]);
    expect(shapes["h.0.attn.o"]).toEqual([32, 32]);
    expect(shapes["h.1.mlp.fc"]).toEqual([32, 128]);
    expect(shapes["h.1.mlp.proj"]).toEqual([128, 32]);
    expect(shapes["h.1.mlp.proj_b"]).toEqual([32]);
  });

  it("shrinks K and V for GQA and MQA", () => {
    const gqa = Object.fromEntries(paramLayout({ ...TINY, kvHeads: 2 }).map((p) => [p.name, p.shape]));
    expect(gqa["h.0.attn.k"]).toEqual([32, 16]);
    expect(gqa["h.0.attn.v_b"]).toEqual([16]);
    expect(gqa["h.0.attn.q"]).toEqual([32, 32]);
    const mqa = Object.fromEntries(paramLayout({ ...TINY, kvHeads: 1 }).map((p) => [p.name, p.shape]));
    expect(mqa["h.0.attn.k"]).toEqual([32, 8]);
  });

  it("adds the gate for SwiGLU right after fc, drops wpe for rotary, adds lm_head when untied", () => {
    const names = paramLayout({ ...TINY, activation: "swiglu", positionalEncoding: "rotary", tieEmbeddings: false }).map((p) => p.name);
    expect(names.slice(0, 2)).toEqual(["wte", "h.0.ln_1.g"]);
    expect(names.slice(names.indexOf("h.0.mlp.fc"), names.indexOf("h.0.mlp.fc") + 3)).toEqual(["h.0.mlp.fc", "h.0.mlp.gate", "h.0.mlp.fc_b"]);
    expect(names.slice(-3)).toEqual(["ln_f.g", "ln_f.b", "lm_head"]);
    expect(paramLayout({ ...TINY, tieEmbeddings: false }).find((p) => p.name === "lm_head")?.shape).toEqual([32, 64]);
  });

  it("initialises GPT-2 style: residual projections scaled by 1/sqrt(2L), norms at 1, biases at 0", () => {
    const byName = Object.fromEntries(paramLayout(TINY).map((p) => [p.name, p.init]));
    expect(byName["h.0.attn.q"]).toEqual({ kind: "normal", std: 0.02 });
    expect(byName["h.0.attn.o"]).toEqual({ kind: "normal", std: 0.02 / Math.sqrt(4) });
    expect(byName["h.1.mlp.proj"]).toEqual({ kind: "normal", std: 0.01 });
    expect(byName["ln_f.g"]).toEqual({ kind: "ones" });
    expect(byName["h.0.attn.q_b"]).toEqual({ kind: "zeros" });
  });
});

describe("parameter count and FLOPs", () => {
  // Per block, d=32, hidden=128: 2 LN (4d) + q,k,v,o (4·d² + 4d) + fc, proj (2·d·128 + 128 + d).
  const block = 4 * 32 + (4 * 32 * 32 + 4 * 32) + (2 * 32 * 128 + 128 + 32);
  it("counts MHA, tied, learned by hand", () => {
    expect(parameterCount(TINY)).toBe(64 * 32 + 16 * 32 + 2 * block + 2 * 32);
  });

  it("counts GQA, SwiGLU and untied by hand", () => {
    const gqaBlock = block - 2 * (32 * 16 + 16); // k, v and their biases halve
    expect(parameterCount({ ...TINY, kvHeads: 2 })).toBe(64 * 32 + 16 * 32 + 2 * gqaBlock + 64);
    expect(parameterCount({ ...TINY, activation: "swiglu" })).toBe(parameterCount(TINY) + 2 * 32 * 128);
    expect(parameterCount({ ...TINY, tieEmbeddings: false, positionalEncoding: "rotary" })).toBe(parameterCount(TINY) - 16 * 32 + 32 * 64);
  });

  it("uses 6N + 12·L·H·Q·T with N excluding the position table (nanoGPT)", () => {
    const n = parameterCount(TINY) - 16 * 32;
    expect(computeParameterCount(TINY)).toBe(n);
    expect(flopsPerToken(TINY)).toBe(6 * n + 12 * 2 * 4 * 8 * 16);
    // Untied: the token table is a lookup; lm_head does the matmul instead.
    expect(computeParameterCount({ ...TINY, tieEmbeddings: false })).toBe(n);
  });

  it("gives GPT-2 small its known size (124M with tied embeddings)", () => {
    const gpt2 = { ...TINY, vocabSize: 50257, contextLength: 1024, layers: 12, dModel: 768, heads: 12, kvHeads: 12, hidden: 3072 };
    expect(parameterCount(gpt2)).toBe(124_439_808);
  });
});

describe("modelConfigFromSpec", () => {
  it("resolves the preset, tokenizer vocabulary and architecture switches", () => {
    const parsed = parseJob({
      apiVersion: "gantry.dev/v1alpha1",
      kind: "LLMTrainingJob",
      metadata: { name: "m" },
      spec: {
        data: { source: "s3://corpora/web", tokenizer: "bytes" },
        training: { steps: 10 },
        model: { preset: "tiny", kvHeads: 2, mlpRatio: 2.5, activation: "swiglu", positionalEncoding: "rotary", tieEmbeddings: false },
      },
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    expect(modelConfigFromSpec(parsed.job.spec)).toEqual({
      vocabSize: 256,
      contextLength: 128,
      layers: 2,
      dModel: 128,
      heads: 4,
      kvHeads: 2,
      hidden: 320,
      activation: "swiglu",
      dropout: 0,
      positionalEncoding: "rotary",
      tieEmbeddings: false,
    });
  });

  it("names the field that makes a shape unbuildable", () => {
    expect(() => validateModelConfig({ ...TINY, heads: 5 })).toThrow(/model.heads/);
    expect(() => validateModelConfig({ ...TINY, kvHeads: 3 })).toThrow(ModelConfigError);
    expect(() => validateModelConfig({ ...TINY, heads: 32, kvHeads: 32, positionalEncoding: "rotary" })).toThrow(/positionalEncoding/);
  });
});
