// The Hugging Face GPT-2 (GPT2LMHeadModel) mapping, both ways. Export: model.safetensors + config.json, for the
// architectures GPT-2 can express. GPT-2's Conv1D stores weights as [in, out], the same x·W layout as Gantry, so no
// tensor is transposed; the only reshaping is q, k and v concatenated on the output axis into c_attn. Import (at the
// end): c_attn split back into q, k, v, optionally fitted to a model (the wpe table cut to its context). The table is in trainer/README.md.
import type { CheckpointStore } from "../checkpoint/checkpoint-store.js";
import type { ModelShape } from "@gantry/crds";
import { elementCount, type NamedArray } from "../checkpoint/named-array.js";
import { encodeSafetensors } from "../checkpoint/safetensors.js";
import { validateModelConfig, type ModelConfig } from "../model/model-config.js";
import { paramLayout } from "../model/param-layout.js";

/** The model fields the export depends on (crds' ModelShape plus the architecture switches of the spec). */
export interface GptArchitecture extends ModelShape {
  mlpRatio: number;
  activation: "gelu" | "swiglu";
  positionalEncoding: "learned" | "rotary";
  tieEmbeddings: boolean;
}

export interface HfExportOptions {
  /** bos/eos token id written to config.json (GPT-2's tokenizer: 50256). Omitted when undefined. */
  eosTokenId?: number;
  /** Dropout written as attn/embd/resid_pdrop (inference ignores it; default 0). */
  dropout?: number;
}

/** The model uses a feature GPT-2 cannot express. */
export class UnsupportedArchitectureError extends Error {
  constructor(
    readonly field: keyof GptArchitecture,
    readonly value: unknown,
    readonly required: string,
  ) {
    super(`Hugging Face GPT-2 cannot express model.${field} = ${JSON.stringify(value)}: it needs ${required}`);
    this.name = "UnsupportedArchitectureError";
  }
}

/** The weights do not match the architecture: a tensor is missing, extra, or of the wrong shape. */
export class HfExportTensorError extends Error {
  constructor(
    readonly tensor: string,
    readonly reason: string,
  ) {
    super(`cannot export tensor ${tensor}: ${reason}`);
    this.name = "HfExportTensorError";
  }
}

export function checkGpt2Expressible(arch: GptArchitecture): void {
  if (arch.kvHeads !== arch.heads) throw new UnsupportedArchitectureError("kvHeads", arch.kvHeads, `multi-head attention (kvHeads = heads = ${arch.heads})`);
  if (arch.positionalEncoding !== "learned") throw new UnsupportedArchitectureError("positionalEncoding", arch.positionalEncoding, '"learned" positions');
  if (arch.activation !== "gelu") throw new UnsupportedArchitectureError("activation", arch.activation, '"gelu"');
  if (arch.mlpRatio !== 4) throw new UnsupportedArchitectureError("mlpRatio", arch.mlpRatio, "4");
  if (!arch.tieEmbeddings) throw new UnsupportedArchitectureError("tieEmbeddings", arch.tieEmbeddings, "an LM head tied to the token embedding");
  if (arch.dModel % arch.heads !== 0) throw new UnsupportedArchitectureError("heads", arch.heads, `a divisor of dModel ${arch.dModel}`);
}

/** config.json for GPT2LMHeadModel. activation gelu_new is the tanh approximation of GELU, which the model uses. */
export function hfGpt2Config(arch: GptArchitecture, options: HfExportOptions = {}): Record<string, unknown> {
  checkGpt2Expressible(arch);
  const dropout = options.dropout ?? 0;
  return {
    architectures: ["GPT2LMHeadModel"],
    model_type: "gpt2",
    vocab_size: arch.vocabSize,
    n_positions: arch.contextLength,
    n_ctx: arch.contextLength,
    n_embd: arch.dModel,
    n_layer: arch.layers,
    n_head: arch.heads,
    n_inner: null,
    activation_function: "gelu_new",
    layer_norm_epsilon: 1e-5,
    attn_pdrop: dropout,
    embd_pdrop: dropout,
    resid_pdrop: dropout,
    initializer_range: 0.02,
    tie_word_embeddings: true,
    torch_dtype: "float32",
    ...(options.eosTokenId === undefined ? {} : { bos_token_id: options.eosTokenId, eos_token_id: options.eosTokenId }),
  };
}

/** Gantry's tensors renamed (and q|k|v fused) as GPT2LMHeadModel's state dict, in its order. */
export function mapToHfGpt2(weights: readonly NamedArray[], arch: GptArchitecture): NamedArray[] {
  checkGpt2Expressible(arch);
  const byName = new Map(weights.map((w) => [w.name, w]));
  const used = new Set<string>();
  const { dModel: d, vocabSize: vocab, contextLength: ctx } = arch;
  const take = (name: string, shape: number[]): Float32Array => {
    const w = byName.get(name);
    if (w === undefined) throw new HfExportTensorError(name, "missing from the checkpoint");
    if (w.shape.length !== shape.length || w.shape.some((s, i) => s !== shape[i])) throw new HfExportTensorError(name, `shape [${w.shape.join(", ")}], expected [${shape.join(", ")}]`);
    if (!(w.data instanceof Float32Array) || w.data.length !== elementCount(shape)) throw new HfExportTensorError(name, "is not float32 data of its shape");
    used.add(name);
    return w.data;
  };
  const out: NamedArray[] = [];
  const put = (name: string, shape: number[], data: Float32Array) => out.push({ name, shape, data });
  put("transformer.wte.weight", [vocab, d], take("wte", [vocab, d]));
  put("transformer.wpe.weight", [ctx, d], take("wpe", [ctx, d]));
  for (let i = 0; i < arch.layers; i++) {
    const g = `h.${i}`;
    const hf = `transformer.h.${i}`;
    put(`${hf}.ln_1.weight`, [d], take(`${g}.ln_1.g`, [d]));
    put(`${hf}.ln_1.bias`, [d], take(`${g}.ln_1.b`, [d]));
    const [q, k, v] = (["q", "k", "v"] as const).map((p) => take(`${g}.attn.${p}`, [d, d])) as [Float32Array, Float32Array, Float32Array];
    put(`${hf}.attn.c_attn.weight`, [d, 3 * d], concatColumns([q, k, v], d));
    const [qb, kb, vb] = (["q_b", "k_b", "v_b"] as const).map((p) => take(`${g}.attn.${p}`, [d])) as [Float32Array, Float32Array, Float32Array];
    put(`${hf}.attn.c_attn.bias`, [3 * d], concatColumns([qb, kb, vb], 1));
    put(`${hf}.attn.c_proj.weight`, [d, d], take(`${g}.attn.o`, [d, d]));
    put(`${hf}.attn.c_proj.bias`, [d], take(`${g}.attn.o_b`, [d]));
    put(`${hf}.ln_2.weight`, [d], take(`${g}.ln_2.g`, [d]));
    put(`${hf}.ln_2.bias`, [d], take(`${g}.ln_2.b`, [d]));
    put(`${hf}.mlp.c_fc.weight`, [d, 4 * d], take(`${g}.mlp.fc`, [d, 4 * d]));
    put(`${hf}.mlp.c_fc.bias`, [4 * d], take(`${g}.mlp.fc_b`, [4 * d]));
    put(`${hf}.mlp.c_proj.weight`, [4 * d, d], take(`${g}.mlp.proj`, [4 * d, d]));
    put(`${hf}.mlp.c_proj.bias`, [d], take(`${g}.mlp.proj_b`, [d]));
  }
  put("transformer.ln_f.weight", [d], take("ln_f.g", [d]));
  put("transformer.ln_f.bias", [d], take("ln_f.b", [d]));
  const extra = weights.map((w) => w.name).filter((n) => !used.has(n));
  if (extra[0] !== undefined) throw new HfExportTensorError(extra[0], `has no GPT-2 counterpart${extra.length > 1 ? ` (nor do ${extra.slice(1).join(", ")})` : ""}`);
  return out;
}

/** Row-major matrices of `rows` rows laid side by side: row r is [a[r,:], b[r,:], …]. */
function concatColumns(matrices: readonly Float32Array[], rows: number): Float32Array {
  const widths = matrices.map((m) => m.length / rows);
  const total = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let at = r * total;
    matrices.forEach((m, i) => {
      const w = widths[i] as number;
      out.set(m.subarray(r * w, (r + 1) * w), at);
      at += w;
    });
  }
  return out;
}

export interface HfGpt2Files {
  "model.safetensors": Uint8Array;
  "config.json": string;
}

/** The two files of a Hugging Face GPT-2 model directory, from a checkpoint's weights. */
export function exportHfGpt2(weights: readonly NamedArray[], arch: GptArchitecture, options: HfExportOptions = {}): HfGpt2Files {
  const config = hfGpt2Config(arch, options);
  return {
    "model.safetensors": encodeSafetensors(mapToHfGpt2(weights, arch), { format: "pt" }),
    "config.json": `${JSON.stringify(config, null, 2)}\n`,
  };
}

/** Writes model.safetensors and config.json at the root of `store` (a file:// or s3:// directory). */
export async function writeHfGpt2(store: CheckpointStore, weights: readonly NamedArray[], arch: GptArchitecture, options: HfExportOptions = {}): Promise<void> {
  const files = exportHfGpt2(weights, arch, options);
  await store.write("model.safetensors", files["model.safetensors"]);
  await store.write("config.json", new TextEncoder().encode(files["config.json"]));
}

// Import: GPT-2 model.safetensors into Gantry's names. Names may carry the "transformer." prefix or not; the
// attention-mask buffers and the tied lm_head are skipped. Given the model to fill, the import also checks that every
// parameter is there, cuts the position table to the model's context (GPT-2 has 1024) and returns layout order.

export class HfImportError extends Error {
  constructor(
    readonly tensor: string,
    readonly reason: string,
  ) {
    super(`Hugging Face GPT-2 tensor ${tensor} ${reason}`);
    this.name = "HfImportError";
  }
}

/** A GPT-2 config.json lacks a field the model shape needs. */
export class HfConfigError extends Error {
  constructor(readonly reason: string) {
    super(`config.json ${reason}`);
    this.name = "HfConfigError";
  }
}

const SKIPPED = /(^|\.)attn\.(masked_)?bias$|^lm_head\.weight$/;

/** True when the names are GPT-2's (wte.weight with or without the transformer. prefix). */
export const looksLikeHfGpt2 = (names: readonly string[]): boolean => names.some((n) => n === "wte.weight" || n === "transformer.wte.weight");

/** The model config of GPT-2 weights; heads come from config.json (n_head), the rest from the shapes. */
export function hfGpt2ModelConfig(arrays: readonly NamedArray[], heads: number): ModelConfig {
  const get = (n: string) => arrays.find((a) => a.name.replace(/^transformer\./, "") === n);
  const wte = get("wte.weight");
  const wpe = get("wpe.weight");
  if (wte === undefined || wpe === undefined) throw new HfImportError(wte === undefined ? "wte.weight" : "wpe.weight", "is missing");
  const [vocabSize, dModel] = wte.shape as [number, number];
  const layers = new Set(arrays.map((a) => /h\.(\d+)\./.exec(a.name)?.[1]).filter((x) => x !== undefined)).size;
  return { vocabSize, contextLength: wpe.shape[0] as number, layers, dModel, heads, kvHeads: heads, hidden: 4 * dModel, activation: "gelu", dropout: 0, positionalEncoding: "learned", tieEmbeddings: true };
}

/** A Hugging Face GPT-2 config.json as a Gantry model shape (GELU, learned positions, tied embeddings). */
export function hfGpt2ModelConfigFromJson(json: unknown): ModelConfig {
  const c = (typeof json === "object" && json !== null ? json : {}) as Record<string, unknown>;
  const int = (...keys: string[]): number => {
    for (const k of keys) if (typeof c[k] === "number" && Number.isInteger(c[k])) return c[k];
    throw new HfConfigError(`has no integer ${keys.join(" or ")}`);
  };
  const dModel = int("n_embd", "hidden_size");
  const heads = int("n_head", "num_attention_heads");
  return validateModelConfig({
    vocabSize: int("vocab_size"),
    contextLength: int("n_positions", "n_ctx"),
    layers: int("n_layer", "num_hidden_layers"),
    dModel,
    heads,
    kvHeads: heads,
    hidden: typeof c["n_inner"] === "number" ? c["n_inner"] : 4 * dModel,
    activation: "gelu",
    dropout: 0,
    positionalEncoding: "learned",
    tieEmbeddings: true,
  });
}

/** Columns [from, from + width) of a row-major [rows, cols] matrix. */
function columns(data: Float32Array, rows: number, cols: number, from: number, width: number): Float32Array {
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(data.subarray(r * cols + from, r * cols + from + width), r * width);
  return out;
}

const TOP_LEVEL: Record<string, string> = { "wte.weight": "wte", "wpe.weight": "wpe", "ln_f.weight": "ln_f.g", "ln_f.bias": "ln_f.b" };
const PER_LAYER: Record<string, string> = {
  "ln_1.weight": "ln_1.g",
  "ln_1.bias": "ln_1.b",
  "attn.c_proj.weight": "attn.o",
  "attn.c_proj.bias": "attn.o_b",
  "ln_2.weight": "ln_2.g",
  "ln_2.bias": "ln_2.b",
  "mlp.c_fc.weight": "mlp.fc",
  "mlp.c_fc.bias": "mlp.fc_b",
  "mlp.c_proj.weight": "mlp.proj",
  "mlp.c_proj.bias": "mlp.proj_b",
};

/** The GPT-2 tensor a Gantry parameter comes from (q, k and v from c_attn), for messages. */
function hfNameOf(param: string): string {
  const top = Object.entries(TOP_LEVEL).find(([, g]) => g === param);
  if (top !== undefined) return top[0];
  const m = /^h\.(\d+)\.(.+)$/.exec(param);
  const rest = m?.[2] ?? param;
  const fused = /^attn\.[qkv](_b)?$/.exec(rest);
  const hf = fused !== null ? `attn.c_attn.${fused[1] === undefined ? "weight" : "bias"}` : Object.entries(PER_LAYER).find(([, g]) => g === rest)?.[0];
  return m === null || hf === undefined ? param : `h.${m[1]}.${hf}`;
}

export interface HfImportOptions {
  /**
   * The model the weights must fill: every parameter must be present (none extra), the position table is cut to its
   * first contextLength rows, and the result comes in paramLayout order. Without it, the tensors alone decide.
   */
  config?: ModelConfig;
}

export function importHfGpt2(arrays: readonly NamedArray[], options: HfImportOptions = {}): NamedArray[] {
  const out: NamedArray[] = [];
  const f32 = (a: NamedArray): Float32Array => {
    if (!(a.data instanceof Float32Array)) throw new HfImportError(a.name, "is not floating point");
    return a.data;
  };
  for (const a of arrays) {
    const name = a.name.replace(/^transformer\./, "");
    if (SKIPPED.test(name)) continue;
    const m = /^h\.(\d+)\.(.+)$/.exec(name);
    if (m === null) {
      const to = TOP_LEVEL[name];
      if (to === undefined) throw new HfImportError(a.name, "has no Gantry counterpart");
      out.push({ name: to, shape: a.shape, data: f32(a) });
      continue;
    }
    const p = `h.${m[1]}.`;
    const rest = m[2] as string;
    const d = a.shape[0] as number;
    if (rest === "attn.c_attn.weight") {
      const cols = a.shape[1] as number;
      (["q", "k", "v"] as const).forEach((x, i) => out.push({ name: `${p}attn.${x}`, shape: [d, cols / 3], data: columns(f32(a), d, cols, (i * cols) / 3, cols / 3) }));
    } else if (rest === "attn.c_attn.bias") {
      const n = (a.shape[0] as number) / 3;
      (["q_b", "k_b", "v_b"] as const).forEach((x, i) => out.push({ name: `${p}attn.${x}`, shape: [n], data: f32(a).slice(i * n, (i + 1) * n) }));
    } else {
      const to = PER_LAYER[rest];
      if (to === undefined) throw new HfImportError(a.name, "has no Gantry counterpart");
      out.push({ name: `${p}${to}`, shape: a.shape, data: f32(a) });
    }
  }
  return options.config === undefined ? out : fitTo(options.config, out);
}

/** The imported parameters checked against `config`, wpe cut to its context, in layout order. */
function fitTo(config: ModelConfig, imported: readonly NamedArray[]): NamedArray[] {
  const byName = new Map(imported.map((a) => [a.name, a]));
  const layout = paramLayout(config);
  const expected = new Set(layout.map((p) => p.name));
  const extra = imported.filter((a) => !expected.has(a.name));
  if (extra[0] !== undefined) throw new HfImportError(hfNameOf(extra[0].name), `has no Gantry counterpart in a ${config.layers}-layer model (${extra.length} such): does model.layers match?`);
  return layout.map((p) => {
    const a = byName.get(p.name);
    if (a === undefined) throw new HfImportError(hfNameOf(p.name), "is missing");
    if (p.name !== "wpe") return a;
    const [positions = 0, width = 0] = a.shape;
    if (positions < config.contextLength) throw new HfImportError("wpe.weight", `has ${positions} positions, the model needs contextLength ${config.contextLength}`);
    return { name: "wpe", shape: [config.contextLength, width], data: a.data.slice(0, config.contextLength * width) };
  });
}
