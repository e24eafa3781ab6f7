// Hugging Face GPT-2 (GPT2LMHeadModel) model.safetensors into Gantry's names: the inverse of interop/hf-gpt2.ts's
// mapping (c_attn split back into q, k, v on the output axis; Conv1D is already x·W). Names may carry the
// "transformer." prefix or not; the attention-mask buffers and the tied lm_head are skipped.
import type { NamedArray } from "../checkpoint/named-array.js";
import type { ModelConfig } from "../model/model-config.js";

export class HfImportError extends Error {
  constructor(
    readonly tensor: string,
    readonly reason: string,
  ) {
    super(`Hugging Face GPT-2 tensor ${tensor}: ${reason}`);
    this.name = "HfImportError";
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
  if (wte === undefined || wpe === undefined) throw new HfImportError(wte === undefined ? "wte.weight" : "wpe.weight", "missing");
  const [vocabSize, dModel] = wte.shape as [number, number];
  const layers = new Set(arrays.map((a) => /h\.(\d+)\./.exec(a.name)?.[1]).filter((x) => x !== undefined)).size;
  return { vocabSize, contextLength: wpe.shape[0] as number, layers, dModel, heads, kvHeads: heads, hidden: 4 * dModel, activation: "gelu", dropout: 0, positionalEncoding: "learned", tieEmbeddings: true };
}

/** Columns [from, from + width) of a row-major [rows, cols] matrix. */
function columns(data: Float32Array, rows: number, cols: number, from: number, width: number): Float32Array {
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(data.subarray(r * cols + from, r * cols + from + width), r * width);
  return out;
}

export function importHfGpt2(arrays: readonly NamedArray[]): NamedArray[] {
  const out: NamedArray[] = [];
  const f32 = (a: NamedArray): Float32Array => {
    if (!(a.data instanceof Float32Array)) throw new HfImportError(a.name, "is not floating point");
    return a.data;
  };
  for (const a of arrays) {
    const name = a.name.replace(/^transformer\./, "");
    if (SKIPPED.test(name)) continue;
    const m = /^h\.(\d+)\.(.+)$/.exec(name);
    const simple: Record<string, string> = { "wte.weight": "wte", "wpe.weight": "wpe", "ln_f.weight": "ln_f.g", "ln_f.bias": "ln_f.b" };
    if (m === null) {
      const to = simple[name];
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
      const map: Record<string, string> = {
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
      const to = map[rest];
      if (to === undefined) throw new HfImportError(a.name, "has no Gantry counterpart");
      out.push({ name: `${p}${to}`, shape: a.shape, data: f32(a) });
    }
  }
  return out;
}
