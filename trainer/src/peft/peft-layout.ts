// The fixed list of PEFT parameters: names, shapes, order and initialisation, like param-layout.ts for the base.
//   LoRA     h.<i>.<base>.lora_a [r, in] (Gaussian, std 1/sqrt(in)), h.<i>.<base>.lora_b [out, r] (zeros), where
//            <base> is attn.q, attn.k, attn.v, attn.o, mlp.fc (up) or mlp.proj (down)
//   adapters h.<i>.adapter_attn.{down [d, m] (normal 0.02), down_b [m], up [m, d] (zeros), up_b [d]}, adapter_mlp.*
// Both start as the identity (B = 0, up = 0): step 0 computes exactly the base model's loss.
import type { NamedArray } from "../checkpoint/named-array.js";
import { hashWords } from "@gantry/dataloader";
import { counterNormals } from "../model/counter-seed.js";
import type { ModelConfig } from "../model/model-config.js";
import { paramLayout, type ParamSpec } from "../model/param-layout.js";
import { SITE_PARAM } from "./low-rank-linear.js";
import { adapterSites, type LoraConfig, type LoraTarget, type PeftConfig } from "./peft-config.js";

const ADAPTER_DOWN_STD = 0.02;

/** Name of a LoRA factor: `h.<layer>.<base param>.lora_a` or `.lora_b`. */
export const loraParamName = (layer: number, target: LoraTarget, factor: "a" | "b"): string => `h.${layer}.${SITE_PARAM[target]}.lora_${factor}`;

/** Name prefix of an adapter: `h.<layer>.adapter_attn` or `h.<layer>.adapter_mlp`. */
export const adapterPrefix = (layer: number, site: "attn" | "mlp"): string => `h.${layer}.adapter_${site}`;

/** [in, out] of the base matrix a LoRA target adapts. */
export function targetShape(config: ModelConfig, target: LoraTarget): [number, number] {
  const spec = paramLayout(config).find((p) => p.name === `h.0.${SITE_PARAM[target]}`);
  const [inDim, outDim] = spec?.shape ?? [];
  if (inDim === undefined || outDim === undefined) throw new RangeError(`the model has no ${SITE_PARAM[target]}`);
  return [inDim, outDim];
}

function loraLayout(config: ModelConfig, lora: LoraConfig): ParamSpec[] {
  const shapes = new Map(lora.targets.map((t) => [t, targetShape(config, t)]));
  const specs: ParamSpec[] = [];
  for (let i = 0; i < config.layers; i++) {
    for (const t of lora.targets) {
      const [inDim, outDim] = shapes.get(t) as [number, number];
      // std 1/sqrt(in) keeps x·Aᵀ at the scale of x whatever the width; B = 0 makes the first update exactly zero.
      specs.push({ name: loraParamName(i, t, "a"), shape: [lora.rank, inDim], init: { kind: "normal", std: 1 / Math.sqrt(inDim) } });
      specs.push({ name: loraParamName(i, t, "b"), shape: [outDim, lora.rank], init: { kind: "zeros" } });
    }
  }
  return specs;
}

function adapterLayout(config: ModelConfig, bottleneck: number, sites: readonly ("attn" | "mlp")[]): ParamSpec[] {
  const d = config.dModel;
  const specs: ParamSpec[] = [];
  for (let i = 0; i < config.layers; i++) {
    for (const site of sites) {
      const p = adapterPrefix(i, site);
      specs.push(
        { name: `${p}.down`, shape: [d, bottleneck], init: { kind: "normal", std: ADAPTER_DOWN_STD } },
        { name: `${p}.down_b`, shape: [bottleneck], init: { kind: "zeros" } },
        { name: `${p}.up`, shape: [bottleneck, d], init: { kind: "zeros" } },
        { name: `${p}.up_b`, shape: [d], init: { kind: "zeros" } },
      );
    }
  }
  return specs;
}

/** Every trainable parameter of a PEFT job, in checkpoint order. */
export function peftLayout(config: ModelConfig, peft: PeftConfig): ParamSpec[] {
  return peft.method === "lora" ? loraLayout(config, peft) : adapterLayout(config, peft.bottleneck, adapterSites(peft.placement));
}

/** Trainable parameters of a PEFT job. For LoRA: layers × Σ over targets of r·(in + out). */
export const peftParameterCount = (config: ModelConfig, peft: PeftConfig): number => peftLayout(config, peft).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);

// Distinct from paramSeed's tag (0x1a17), so adapter draws never repeat the base model's.
const PEFT_SEED_TAG = 0x9ef7;

/** Fresh PEFT parameters for training seed `seed`, as plain arrays (the same bytes on every backend and rank). */
export function initPeftParams(config: ModelConfig, peft: PeftConfig, seed: number): NamedArray[] {
  return peftLayout(config, peft).map((spec, index) => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const data =
      spec.init.kind === "normal" ? counterNormals(hashWords(seed, PEFT_SEED_TAG, index), n, spec.init.std) : spec.init.kind === "ones" ? new Float32Array(n).fill(1) : new Float32Array(n);
    return { name: spec.name, shape: [...spec.shape], data };
  });
}
