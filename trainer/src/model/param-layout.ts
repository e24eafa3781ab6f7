// The fixed list of parameters: names, shapes, order and initialisation. Checkpoints, the optimizer state and the
// Hugging Face exporter all key on these names, and the order never changes between runs. Matrices are laid out for
// x·W, W [in, out] (GPT-2's Conv1D layout), so an export is a rename, not a transpose.
import { headDim, type ModelConfig } from "./model-config.js";

export type ParamInit = { kind: "normal"; std: number } | { kind: "zeros" } | { kind: "ones" };

export interface ParamSpec {
  name: string;
  shape: number[];
  init: ParamInit;
}

const INIT_STD = 0.02;
const zeros: ParamInit = { kind: "zeros" };
const ones: ParamInit = { kind: "ones" };

/** Every parameter of the model, in checkpoint order. */
export function paramLayout(c: ModelConfig): ParamSpec[] {
  const d = c.dModel;
  const hd = headDim(c);
  const qOut = c.heads * hd;
  const kvOut = c.kvHeads * hd;
  const normal: ParamInit = { kind: "normal", std: INIT_STD };
  // GPT-2: projections that write into the residual stream are scaled by 1/sqrt(2L), two per block.
  const residual: ParamInit = { kind: "normal", std: INIT_STD / Math.sqrt(2 * c.layers) };
  const specs: ParamSpec[] = [{ name: "wte", shape: [c.vocabSize, d], init: normal }];
  if (c.positionalEncoding === "learned") specs.push({ name: "wpe", shape: [c.contextLength, d], init: normal });
  for (let i = 0; i < c.layers; i++) {
    const p = `h.${i}.`;
    specs.push(
      { name: `${p}ln_1.g`, shape: [d], init: ones },
      { name: `${p}ln_1.b`, shape: [d], init: zeros },
      { name: `${p}attn.q`, shape: [d, qOut], init: normal },
      { name: `${p}attn.q_b`, shape: [qOut], init: zeros },
      { name: `${p}attn.k`, shape: [d, kvOut], init: normal },
      { name: `${p}attn.k_b`, shape: [kvOut], init: zeros },
      { name: `${p}attn.v`, shape: [d, kvOut], init: normal },
      { name: `${p}attn.v_b`, shape: [kvOut], init: zeros },
      { name: `${p}attn.o`, shape: [qOut, d], init: residual },
      { name: `${p}attn.o_b`, shape: [d], init: zeros },
      { name: `${p}ln_2.g`, shape: [d], init: ones },
      { name: `${p}ln_2.b`, shape: [d], init: zeros },
      { name: `${p}mlp.fc`, shape: [d, c.hidden], init: normal },
    );
    if (c.activation === "swiglu") specs.push({ name: `${p}mlp.gate`, shape: [d, c.hidden], init: normal });
    specs.push(
      { name: `${p}mlp.fc_b`, shape: [c.hidden], init: zeros },
      { name: `${p}mlp.proj`, shape: [c.hidden, d], init: residual },
      { name: `${p}mlp.proj_b`, shape: [d], init: zeros },
    );
  }
  specs.push({ name: "ln_f.g", shape: [d], init: ones }, { name: "ln_f.b", shape: [d], init: zeros });
  if (!c.tieEmbeddings) specs.push({ name: "lm_head", shape: [d, c.vocabSize], init: normal });
  return specs;
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Total trainable parameters (a tied LM head counts once). */
export function parameterCount(c: ModelConfig): number {
  return paramLayout(c).reduce((n, p) => n + size(p.shape), 0);
}

/**
 * Parameters that cost matrix multiplies per token: all but the position table and, when untied, the token table
 * (a lookup, not a matmul). nanoGPT's N for 6N: with tied embeddings it counts wte once, as the LM head.
 */
export function computeParameterCount(c: ModelConfig): number {
  let n = parameterCount(c);
  if (c.positionalEncoding === "learned") n -= c.contextLength * c.dModel;
  if (!c.tieEmbeddings) n -= c.vocabSize * c.dModel;
  return n;
}

/** Training FLOPs per token, forward and backward: 6N + 12·L·H·Q·T (PaLM appendix B, nanoGPT's estimate_mfu). */
export function flopsPerToken(c: ModelConfig, seqLen: number = c.contextLength): number {
  return 6 * computeParameterCount(c) + 12 * c.layers * c.heads * headDim(c) * seqLen;
}
