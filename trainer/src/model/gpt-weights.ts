// The model's weights as named fields, built from (and flattened back to) the layout order. The forward reads these
// structures; the optimizer and checkpoints see only the flat list.
import type * as tf from "@tensorflow/tfjs-core";
import type { AdapterWeights } from "../peft/bottleneck-adapter.js";
import type { LinearSite, LowRankWeights } from "../peft/low-rank-linear.js";
import type { ModelConfig } from "./model-config.js";
import { paramLayout } from "./param-layout.js";

export interface BlockWeights {
  ln1g: tf.Tensor;
  ln1b: tf.Tensor;
  q: tf.Tensor;
  qb: tf.Tensor;
  k: tf.Tensor;
  kb: tf.Tensor;
  v: tf.Tensor;
  vb: tf.Tensor;
  o: tf.Tensor;
  ob: tf.Tensor;
  ln2g: tf.Tensor;
  ln2b: tf.Tensor;
  fc: tf.Tensor;
  /** SwiGLU only. */
  gate?: tf.Tensor;
  fcb: tf.Tensor;
  proj: tf.Tensor;
  projb: tf.Tensor;
  /** Low-rank paths on the linears (LoRA, factorized layers); a site without one is the plain x·W + b. */
  lowRank?: Partial<Record<LinearSite, LowRankWeights>>;
  /** Bottleneck adapter on the attention output, before the residual add. */
  adapterAttn?: AdapterWeights;
  /** Bottleneck adapter on the MLP output, before the residual add. */
  adapterMlp?: AdapterWeights;
}

export interface GptWeights {
  wte: tf.Tensor;
  /** Learned positions only. */
  wpe?: tf.Tensor;
  blocks: BlockWeights[];
  lnFg: tf.Tensor;
  lnFb: tf.Tensor;
  /** Untied embeddings only. */
  lmHead?: tf.Tensor;
}

export class WeightLayoutError extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(`parameter ${param}: ${message}`);
    this.name = "WeightLayoutError";
  }
}

/** The block's own tensors (the PEFT hooks are structures of their own). */
export type BlockTensorField = Exclude<keyof BlockWeights, "lowRank" | "adapterAttn" | "adapterMlp">;

const BLOCK_FIELDS: Record<string, BlockTensorField> = {
  "ln_1.g": "ln1g",
  "ln_1.b": "ln1b",
  "attn.q": "q",
  "attn.q_b": "qb",
  "attn.k": "k",
  "attn.k_b": "kb",
  "attn.v": "v",
  "attn.v_b": "vb",
  "attn.o": "o",
  "attn.o_b": "ob",
  "ln_2.g": "ln2g",
  "ln_2.b": "ln2b",
  "mlp.fc": "fc",
  "mlp.gate": "gate",
  "mlp.fc_b": "fcb",
  "mlp.proj": "proj",
  "mlp.proj_b": "projb",
};

/** Names `flat` (tensors in paramLayout order) into GptWeights, checking every shape. */
export function structureWeights(config: ModelConfig, flat: readonly tf.Tensor[]): GptWeights {
  const layout = paramLayout(config);
  if (flat.length !== layout.length) throw new WeightLayoutError(`expected ${layout.length} tensors, got ${flat.length}`, "*");
  const byName = new Map<string, tf.Tensor>();
  layout.forEach((spec, i) => {
    const t = flat[i] as tf.Tensor;
    if (t.shape.length !== spec.shape.length || t.shape.some((d, j) => d !== spec.shape[j])) {
      throw new WeightLayoutError(`shape [${t.shape.join(",")}] is not [${spec.shape.join(",")}]`, spec.name);
    }
    byName.set(spec.name, t);
  });
  const get = (name: string): tf.Tensor => {
    const t = byName.get(name);
    if (t === undefined) throw new WeightLayoutError("missing", name);
    return t;
  };
  const blocks: BlockWeights[] = [];
  for (let i = 0; i < config.layers; i++) {
    const fields: Partial<Record<BlockTensorField, tf.Tensor>> = {};
    for (const [suffix, field] of Object.entries(BLOCK_FIELDS)) {
      const t = byName.get(`h.${i}.${suffix}`);
      if (t !== undefined) fields[field] = t;
    }
    blocks.push(fields as BlockWeights);
    if (config.activation === "swiglu" && fields.gate === undefined) throw new WeightLayoutError("missing", `h.${i}.mlp.gate`);
  }
  const w: GptWeights = { wte: get("wte"), blocks, lnFg: get("ln_f.g"), lnFb: get("ln_f.b") };
  if (config.positionalEncoding === "learned") w.wpe = get("wpe");
  if (!config.tieEmbeddings) w.lmHead = get("lm_head");
  return w;
}

/** One block's weights as an explicit list (for tf.grads over a single block), in layout order. */
export function blockWeightList(b: BlockWeights): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  for (const field of Object.values(BLOCK_FIELDS)) {
    const t = b[field];
    if (t !== undefined) out.push(t);
  }
  return out;
}
