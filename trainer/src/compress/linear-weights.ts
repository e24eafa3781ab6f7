// Which parameters are the model's linear layers (the ones quantization and pruning touch), and along which axis
// their output channels lie. Biases, LayerNorms and the position table stay float32 and dense.
import type { ModelConfig } from "../model/model-config.js";
import { paramLayout } from "../model/param-layout.js";
import type { ChannelAxis } from "./int8.js";

export interface LinearWeight {
  name: string;
  rows: number;
  cols: number;
  axis: ChannelAxis;
}

const BLOCK_LINEARS = ["attn.q", "attn.k", "attn.v", "attn.o", "mlp.fc", "mlp.gate", "mlp.proj"];

/** Block matrices (x·W, W [in, out], channels are columns), plus the LM head: lm_head, or wte (rows) when tied. */
export function linearWeights(config: ModelConfig, opts: { includeHead: boolean } = { includeHead: true }): LinearWeight[] {
  const out: LinearWeight[] = [];
  for (const spec of paramLayout(config)) {
    const [rows, cols] = spec.shape as [number, number];
    const suffix = spec.name.replace(/^h\.\d+\./, "");
    if (spec.name.startsWith("h.") && BLOCK_LINEARS.includes(suffix)) out.push({ name: spec.name, rows, cols, axis: "column" });
    else if (opts.includeHead && spec.name === "lm_head") out.push({ name: spec.name, rows, cols, axis: "column" });
    else if (opts.includeHead && spec.name === "wte" && config.tieEmbeddings) out.push({ name: spec.name, rows, cols, axis: "row" });
  }
  return out;
}
