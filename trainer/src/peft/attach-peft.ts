// Puts PEFT tensors (in peftLayout order) onto a frozen base: each block gets its low-rank paths or adapters. The base
// tensors are shared, never copied or changed; only the block records are new.
import type * as tf from "@tensorflow/tfjs-core";
import type { BlockWeights, GptWeights } from "../model/gpt-weights.js";
import type { ModelConfig } from "../model/model-config.js";
import { WeightLayoutError } from "../model/gpt-weights.js";
import type { LinearSite, LowRankWeights } from "./low-rank-linear.js";
import { adapterSites, loraScale, type PeftConfig } from "./peft-config.js";
import { adapterPrefix, loraParamName, peftLayout } from "./peft-layout.js";

/** The adapted model: `base` with `trainable` (tensors in peftLayout(config, peft) order) attached to its blocks. */
export function attachPeft(config: ModelConfig, peft: PeftConfig, base: GptWeights, trainable: readonly tf.Tensor[]): GptWeights {
  const layout = peftLayout(config, peft);
  if (trainable.length !== layout.length) throw new WeightLayoutError(`expected ${layout.length} PEFT tensors, got ${trainable.length}`, "*");
  const byName = new Map<string, tf.Tensor>();
  layout.forEach((spec, i) => byName.set(spec.name, trainable[i] as tf.Tensor));
  const get = (name: string): tf.Tensor => {
    const t = byName.get(name);
    if (t === undefined) throw new WeightLayoutError("missing", name);
    return t;
  };
  const blocks = base.blocks.map((b, i): BlockWeights => {
    if (peft.method === "lora") {
      const lowRank: Partial<Record<LinearSite, LowRankWeights>> = { ...b.lowRank };
      for (const t of peft.targets) {
        lowRank[t] = { a: get(loraParamName(i, t, "a")), b: get(loraParamName(i, t, "b")), scale: loraScale(peft), dropout: peft.dropout };
      }
      return { ...b, lowRank };
    }
    const out: BlockWeights = { ...b };
    for (const site of adapterSites(peft.placement)) {
      const p = adapterPrefix(i, site);
      const w = { down: get(`${p}.down`), downB: get(`${p}.down_b`), up: get(`${p}.up`), upB: get(`${p}.up_b`) };
      if (site === "attn") out.adapterAttn = w;
      else out.adapterMlp = w;
    }
    return out;
  });
  return { ...base, blocks };
}
