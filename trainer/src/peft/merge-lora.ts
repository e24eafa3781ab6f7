// Folds LoRA into the base: W' = W + (alpha/r)·Aᵀ·Bᵀ ([in, r]·[r, out], Gantry's x·W layout), summed in float64 and
// rounded once. Pure array work: the merged weights are a plain model that any Gantry tool (gantry-generate, the
// Hugging Face export) reads. Bottleneck adapters are layers with a nonlinearity and cannot be folded.
import type { NamedArray } from "../checkpoint/named-array.js";
import type { ModelConfig } from "../model/model-config.js";
import { matchNamedArrays } from "../model/param-io.js";
import { paramLayout } from "../model/param-layout.js";
import { ConfigError } from "../runtime/run-config.js";
import { SITE_PARAM } from "./low-rank-linear.js";
import { loraScale, type PeftConfig } from "./peft-config.js";
import { loraParamName, peftLayout } from "./peft-layout.js";

/** The PEFT method cannot be merged into plain weights. */
export class PeftMergeError extends ConfigError {
  constructor(readonly method: string, reason: string) {
    super(`cannot merge ${method}: ${reason}`);
    this.name = "PeftMergeError";
  }
}

/** W [in, out] + scale·Aᵀ·Bᵀ with A [r, in], B [out, r], as a new array. */
export function foldLowRank(w: Float32Array, a: Float32Array, b: Float32Array, inDim: number, outDim: number, rank: number, scale: number): Float32Array {
  const out = new Float32Array(inDim * outDim);
  const row = new Float64Array(outDim);
  for (let i = 0; i < inDim; i++) {
    row.fill(0);
    for (let r = 0; r < rank; r++) {
      const air = (a[r * inDim + i] as number) * scale;
      if (air === 0) continue;
      for (let o = 0; o < outDim; o++) row[o] = (row[o] as number) + air * (b[o * rank + r] as number);
    }
    for (let o = 0; o < outDim; o++) out[i * outDim + o] = (w[i * outDim + o] as number) + (row[o] as number);
  }
  return out;
}

/** The base parameters (paramLayout order) with every LoRA update folded in. */
export function mergePeft(config: ModelConfig, peft: PeftConfig, base: readonly NamedArray[], adapters: readonly NamedArray[]): NamedArray[] {
  if (peft.method !== "lora") throw new PeftMergeError(peft.method, "bottleneck adapters are extra layers with a nonlinearity, not a change of existing weights; keep the adapter checkpoint with its base");
  const weights = matchNamedArrays(paramLayout(config), base);
  const factors = new Map(matchNamedArrays(peftLayout(config, peft), adapters).map((a) => [a.name, a.data as Float32Array]));
  const scale = loraScale(peft);
  const folded = new Map<string, Float32Array>();
  for (let i = 0; i < config.layers; i++) {
    for (const t of peft.targets) {
      const name = `h.${i}.${SITE_PARAM[t]}`;
      const w = weights.find((x) => x.name === name);
      if (w === undefined) throw new PeftMergeError("lora", `base tensor ${name} is missing`);
      const [inDim, outDim] = w.shape as [number, number];
      const factor = (ab: "a" | "b"): Float32Array => {
        const f = factors.get(loraParamName(i, t, ab));
        if (f === undefined) throw new PeftMergeError("lora", `adapter tensor ${loraParamName(i, t, ab)} is missing`);
        return f;
      };
      const a = factor("a");
      const b = factor("b");
      folded.set(name, foldLowRank(w.data as Float32Array, a, b, inDim, outDim, peft.rank, scale));
    }
  }
  return weights.map((w) => {
    const f = folded.get(w.name);
    return f === undefined ? { name: w.name, shape: [...w.shape], data: (w.data as Float32Array).slice() } : { name: w.name, shape: [...w.shape], data: f };
  });
}
