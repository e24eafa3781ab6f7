// Shared set-up of the PEFT tests: a tiny base model, PEFT configurations, and random (non-identity) adapter values.
import * as tf from "@tensorflow/tfjs-core";
import type { NamedArray } from "../../src/checkpoint/named-array.js";
import { counterNormals } from "../../src/model/counter-seed.js";
import { forward } from "../../src/model/gpt.js";
import type { GptWeights } from "../../src/model/gpt-weights.js";
import { initParams } from "../../src/model/init-params.js";
import type { ModelConfig } from "../../src/model/model-config.js";
import type { AdapterConfig, LoraConfig } from "../../src/peft/peft-config.js";
import { peftLayout } from "../../src/peft/peft-layout.js";
import type { PeftConfig } from "../../src/peft/peft-config.js";
import { TINY } from "../model/tiny.js";

export const LORA: LoraConfig = { method: "lora", rank: 4, alpha: 8, dropout: 0, targets: ["q", "k", "v", "o", "up", "down"] };
export const ADAPTER: AdapterConfig = { method: "adapter", bottleneck: 8, placement: "both" };

/** The "pretrained" base: a seeded initialisation of TINY (seed 11). */
export const baseArrays = (config: ModelConfig = TINY): NamedArray[] => initParams(config, 11);

/** PEFT values that are not the identity: every tensor drawn from N(0, std²). */
export function randomPeft(config: ModelConfig, peft: PeftConfig, seed = 5, std = 0.1): NamedArray[] {
  return peftLayout(config, peft).map((spec, i) => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    return { name: spec.name, shape: [...spec.shape], data: counterNormals(seed * 1000 + i, n, std) };
  });
}

export const tensorsOf = (arrays: readonly NamedArray[]): tf.Tensor[] => arrays.map((a) => tf.tensor(a.data.slice(), a.shape, "float32"));

/** Logits of `tokens` [1, T] under weights `w`, read back. */
export async function logitsOf(config: ModelConfig, w: GptWeights, tokens: Int32Array): Promise<Float32Array> {
  const out = tf.tidy(() => forward(config, w, tf.tensor2d(tokens, [1, tokens.length], "int32")));
  const data = (await out.data()) as Float32Array;
  out.dispose();
  return data;
}

export const bytesOf = (arrays: readonly NamedArray[]): Buffer => Buffer.concat(arrays.map((a) => Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)));
