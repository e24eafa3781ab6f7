// Tiny random-weight models for the inference tests (no training needed: the properties hold for any weights).
import { initParams } from "../../src/model/init-params.js";
import { structureWeights } from "../../src/model/gpt-weights.js";
import { importParams } from "../../src/model/param-io.js";
import type { ModelConfig } from "../../src/model/model-config.js";
import type { DecodingModel } from "../../src/inference/generate.js";
import { TINY } from "../model/tiny.js";

export function tinyModel(overrides: Partial<ModelConfig> = {}, seed = 3): DecodingModel {
  const config: ModelConfig = { ...TINY, ...overrides };
  return { config, weights: structureWeights(config, importParams(config, initParams(config, seed))) };
}

/** Initial weights are near zero, so logits are nearly flat; scale them up so distributions are far from uniform. */
export function sharpModel(overrides: Partial<ModelConfig> = {}, seed = 3, gain = 25): DecodingModel {
  const config: ModelConfig = { ...TINY, ...overrides };
  const arrays = initParams(config, seed).map((a) => (a.name.endsWith(".g") || a.name.endsWith("_b") || a.name.endsWith(".b") ? a : { ...a, data: a.data instanceof Float32Array ? a.data.map((v) => v * gain) : a.data }));
  return { config, weights: structureWeights(config, importParams(config, arrays)) };
}
