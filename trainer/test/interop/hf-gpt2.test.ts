import { describe, expect, it } from "vitest";
import type { NamedArray } from "../../src/checkpoint/named-array.js";
import { decodeSafetensors, toNamedArray } from "../../src/checkpoint/safetensors.js";
import { HfExportTensorError, HfImportError, UnsupportedArchitectureError, exportHfGpt2, hfGpt2Config, hfGpt2ModelConfig, importHfGpt2, mapToHfGpt2, type GptArchitecture } from "../../src/interop/hf-gpt2.js";

const arch: GptArchitecture = { vocabSize: 7, contextLength: 5, layers: 2, dModel: 4, heads: 2, kvHeads: 2, mlpRatio: 4, activation: "gelu", positionalEncoding: "learned", tieEmbeddings: true };

/** A tiny Gantry state whose every value says where it came from: tensor index · 1000 + element index. */
function gantryState(a: GptArchitecture): NamedArray[] {
  const d = a.dModel;
  const shapes: [string, number[]][] = [["wte", [a.vocabSize, d]], ["wpe", [a.contextLength, d]]];
  for (let i = 0; i < a.layers; i++) {
    shapes.push([`h.${i}.ln_1.g`, [d]], [`h.${i}.ln_1.b`, [d]]);
    for (const p of ["q", "k", "v"]) shapes.push([`h.${i}.attn.${p}`, [d, d]], [`h.${i}.attn.${p}_b`, [d]]);
    shapes.push([`h.${i}.attn.o`, [d, d]], [`h.${i}.attn.o_b`, [d]], [`h.${i}.ln_2.g`, [d]], [`h.${i}.ln_2.b`, [d]]);
    shapes.push([`h.${i}.mlp.fc`, [d, 4 * d]], [`h.${i}.mlp.fc_b`, [4 * d]], [`h.${i}.mlp.proj`, [4 * d, d]], [`h.${i}.mlp.proj_b`, [d]]);
  }
  shapes.push(["ln_f.g", [d]], ["ln_f.b", [d]]);
  return shapes.map(([name, shape], t) => ({ name, shape, data: Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, (_, i) => t * 1000 + i) }));
}

const byName = (arrays: NamedArray[]) => new Map(arrays.map((a) => [a.name, a]));

describe("Hugging Face GPT-2 export", () => {
  it("names and shapes every tensor as GPT2LMHeadModel's state dict, with no LM head (tied)", () => {
    const hf = mapToHfGpt2(gantryState(arch), arch);
    const layer = (i: number): [string, number[]][] => [
      [`transformer.h.${i}.ln_1.weight`, [4]],
      [`transformer.h.${i}.ln_1.bias`, [4]],
      [`transformer.h.${i}.attn.c_attn.weight`, [4, 12]],
      [`transformer.h.${i}.attn.c_attn.bias`, [12]],
      [`transformer.h.${i}.attn.c_proj.weight`, [4, 4]],
      [`transformer.h.${i}.attn.c_proj.bias`, [4]],
      [`transformer.h.${i}.ln_2.weight`, [4]],
      [`transformer.h.${i}.ln_2.bias`, [4]],
      [`transformer.h.${i}.mlp.c_fc.weight`, [4, 16]],
      [`transformer.h.${i}.mlp.c_fc.bias`, [16]],
      [`transformer.h.${i}.mlp.c_proj.weight`, [16, 4]],
      [`transformer.h.${i}.mlp.c_proj.bias`, [4]],
    ];
    expect(hf.map((t) => [t.name, t.shape])).toEqual([["transformer.wte.weight", [7, 4]], ["transformer.wpe.weight", [5, 4]], ...layer(0), ...layer(1), ["transformer.ln_f.weight", [4]], ["transformer.ln_f.bias", [4]]]);
  });

  it("fuses q, k, v on the output axis (row r = q[r,:] k[r,:] v[r,:]) and copies everything else value for value", () => {
    const g = byName(gantryState(arch));
    const hf = byName(mapToHfGpt2([...g.values()], arch));
    const at = (m: Map<string, NamedArray>, name: string) => Array.from(m.get(name)?.data ?? []);
    const rows = (name: string) => Array.from({ length: 4 }, (_, r) => at(g, name).slice(r * 4, r * 4 + 4));
    const q = rows("h.1.attn.q");
    const k = rows("h.1.attn.k");
    const v = rows("h.1.attn.v");
    expect(at(hf, "transformer.h.1.attn.c_attn.weight")).toEqual([0, 1, 2, 3].flatMap((r) => [...(q[r] ?? []), ...(k[r] ?? []), ...(v[r] ?? [])]));
    expect(at(hf, "transformer.h.1.attn.c_attn.bias")).toEqual([...at(g, "h.1.attn.q_b"), ...at(g, "h.1.attn.k_b"), ...at(g, "h.1.attn.v_b")]);
    const same: [string, string][] = [
      ["wte", "transformer.wte.weight"],
      ["wpe", "transformer.wpe.weight"],
      ["h.0.ln_1.g", "transformer.h.0.ln_1.weight"],
      ["h.0.ln_1.b", "transformer.h.0.ln_1.bias"],
      ["h.0.attn.o", "transformer.h.0.attn.c_proj.weight"],
      ["h.0.attn.o_b", "transformer.h.0.attn.c_proj.bias"],
      ["h.1.ln_2.g", "transformer.h.1.ln_2.weight"],
      ["h.1.mlp.fc", "transformer.h.1.mlp.c_fc.weight"],
      ["h.1.mlp.fc_b", "transformer.h.1.mlp.c_fc.bias"],
      ["h.1.mlp.proj", "transformer.h.1.mlp.c_proj.weight"],
      ["h.1.mlp.proj_b", "transformer.h.1.mlp.c_proj.bias"],
      ["ln_f.g", "transformer.ln_f.weight"],
      ["ln_f.b", "transformer.ln_f.bias"],
    ];
    for (const [from, to] of same) expect([to, at(hf, to)]).toEqual([to, at(g, from)]);
  });

  it("writes a safetensors file that decodes to the mapped tensors, and a GPT-2 config.json", () => {
    const files = exportHfGpt2(gantryState(arch), arch, { eosTokenId: 6 });
    const decoded = decodeSafetensors(files["model.safetensors"]);
    expect(decoded.metadata).toEqual({ format: "pt" });
    expect(decoded.tensors.map(toNamedArray)).toEqual(mapToHfGpt2(gantryState(arch), arch));
    expect(JSON.parse(files["config.json"])).toEqual({
      architectures: ["GPT2LMHeadModel"],
      model_type: "gpt2",
      vocab_size: 7,
      n_positions: 5,
      n_ctx: 5,
      n_embd: 4,
      n_layer: 2,
      n_head: 2,
      n_inner: null,
      activation_function: "gelu_new",
      layer_norm_epsilon: 1e-5,
      attn_pdrop: 0,
      embd_pdrop: 0,
      resid_pdrop: 0,
      initializer_range: 0.02,
      tie_word_embeddings: true,
      torch_dtype: "float32",
      bos_token_id: 6,
      eos_token_id: 6,
    });
  });

  const unsupported: [Partial<GptArchitecture>, keyof GptArchitecture][] = [
    [{ kvHeads: 1 }, "kvHeads"],
    [{ positionalEncoding: "rotary" }, "positionalEncoding"],
    [{ activation: "swiglu" }, "activation"],
    [{ mlpRatio: 3 }, "mlpRatio"],
    [{ tieEmbeddings: false }, "tieEmbeddings"],
  ];
  for (const [change, field] of unsupported) {
    it(`refuses ${field} = ${JSON.stringify(change[field])} with an error naming the field`, () => {
      const err = (() => {
        try {
          hfGpt2Config({ ...arch, ...change });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(UnsupportedArchitectureError);
      expect((err as UnsupportedArchitectureError).field).toBe(field);
      expect((err as Error).message).toContain(`model.${field} = ${JSON.stringify(change[field])}`);
    });
  }

  it("names a missing, misshapen or extra tensor", () => {
    const state = gantryState(arch);
    expect(() => mapToHfGpt2(state.filter((t) => t.name !== "h.1.attn.v"), arch)).toThrow(new HfExportTensorError("h.1.attn.v", "missing from the checkpoint"));
    expect(() => mapToHfGpt2(state.map((t) => (t.name === "wpe" ? { ...t, shape: [4, 5] } : t)), arch)).toThrow(/tensor wpe: shape \[4, 5\], expected \[5, 4\]/);
    expect(() => mapToHfGpt2([...state, { name: "lm_head", shape: [4, 7], data: new Float32Array(28) }], arch)).toThrow(/tensor lm_head: has no GPT-2 counterpart/);
  });
});

describe("Hugging Face GPT-2 import", () => {
  it("inverts the export: every Gantry tensor back under its name, with the same shape and values", () => {
    const state = gantryState(arch);
    const back = byName(importHfGpt2(mapToHfGpt2(state, arch)));
    expect([...back.keys()].sort()).toEqual(state.map((a) => a.name).sort());
    for (const a of state) {
      expect(back.get(a.name)?.shape).toEqual(a.shape);
      expect(Array.from(back.get(a.name)?.data ?? [])).toEqual(Array.from(a.data));
    }
    // The shapes alone give the model config (heads come from config.json).
    expect(hfGpt2ModelConfig(mapToHfGpt2(state, arch), arch.heads)).toMatchObject({ vocabSize: 7, contextLength: 5, layers: 2, dModel: 4, heads: 2, hidden: 16 });
  });

  it("skips the attention buffers and refuses a tensor GPT-2 does not have", () => {
    const hf = mapToHfGpt2(gantryState(arch), arch);
    const buffer: NamedArray = { name: "transformer.h.0.attn.bias", shape: [1], data: new Float32Array(1) };
    expect(importHfGpt2([...hf, buffer]).map((a) => a.name)).not.toContain("h.0.attn.bias");
    expect(() => importHfGpt2([...hf, { name: "transformer.h.0.attn.rotary", shape: [1], data: new Float32Array(1) }])).toThrow(HfImportError);
  });

  it("fitted to a model: layout order, wpe cut to its context, a missing or extra tensor named in GPT-2's terms", () => {
    const state = gantryState(arch);
    const hf = mapToHfGpt2(state, arch).reverse();
    const model = { vocabSize: 7, contextLength: 3, layers: 2, dModel: 4, heads: 2, kvHeads: 2, hidden: 16, activation: "gelu" as const, dropout: 0, positionalEncoding: "learned" as const, tieEmbeddings: true };
    const fitted = importHfGpt2(hf, { config: model });
    expect(fitted.map((a) => a.name)).toEqual(state.map((a) => a.name));
    const wpe = fitted.find((a) => a.name === "wpe");
    expect(wpe?.shape).toEqual([3, 4]);
    expect(Array.from(wpe?.data ?? [])).toEqual(Array.from(state[1]?.data ?? []).slice(0, 12));
    expect(() => importHfGpt2(hf, { config: { ...model, contextLength: 6 } })).toThrow("Hugging Face GPT-2 tensor wpe.weight has 5 positions, the model needs contextLength 6");
    expect(() => importHfGpt2(hf.filter((a) => a.name !== "transformer.h.1.attn.c_attn.bias"), { config: model })).toThrow("Hugging Face GPT-2 tensor h.1.attn.c_attn.bias is missing");
    expect(() => importHfGpt2(hf, { config: { ...model, layers: 1 } })).toThrow(/tensor h\.1\.\S+ has no Gantry counterpart in a 1-layer model \(16 such\)/);
  });
});

