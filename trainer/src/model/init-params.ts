// Deterministic GPT-2 initialisation as plain arrays: no tensors, so it is the same bytes on every backend and rank.
import type { NamedArray } from "../checkpoint/named-array.js";
import { counterNormals, paramSeed } from "./counter-seed.js";
import type { ModelConfig } from "./model-config.js";
import { paramLayout } from "./param-layout.js";

/**
 * Every parameter of `config`, in layout order, initialised from `seed` (training.seed); with `only`, just those it
 * names (each tensor's values depend on its layout index alone, so a subset is the same bytes).
 */
export function initParams(config: ModelConfig, seed: number, only?: (name: string) => boolean): NamedArray[] {
  return paramLayout(config).flatMap((spec, index) => {
    if (only !== undefined && !only(spec.name)) return [];
    const n = spec.shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    switch (spec.init.kind) {
      case "normal":
        data = counterNormals(paramSeed(seed, index), n, spec.init.std);
        break;
      case "ones":
        data = new Float32Array(n).fill(1);
        break;
      case "zeros":
        data = new Float32Array(n);
        break;
    }
    return [{ name: spec.name, shape: [...spec.shape], data }];
  });
}
