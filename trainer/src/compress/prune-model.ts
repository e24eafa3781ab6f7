// Wanda over a whole model, block by block as in the paper: calibration hidden states enter block l through the
// already pruned blocks < l, the input norms of each linear layer are taken there, block l is pruned, and its output
// feeds block l + 1. The LM head and the embeddings are left dense (as Wanda does).
import * as tf from "@tensorflow/tfjs-core";
import type { NamedArray } from "../checkpoint/named-array.js";
import { blockCached, embedAt, type LinearSite } from "../inference/cached-forward.js";
import { structureWeights } from "../model/gpt-weights.js";
import type { ModelConfig } from "../model/model-config.js";
import { importParams } from "../model/param-io.js";
import { paramLayout } from "../model/param-layout.js";
import { wandaPrune, type SparsityPattern } from "./wanda.js";

const SITE_OF: Record<string, LinearSite> = { "attn.q": "qkv", "attn.k": "qkv", "attn.v": "qkv", "attn.o": "o", "mlp.fc": "fc", "mlp.gate": "fc", "mlp.proj": "proj" };

export interface PrunedModel {
  arrays: NamedArray[];
  /** Per pruned matrix: its name and the fraction of zeros reached. */
  report: { name: string; sparsity: number }[];
}

/** Prunes `arrays` (the model's parameters, any order) with calibration rows of tokens (≤ contextLength each, equal lengths). */
export async function pruneModel(config: ModelConfig, arrays: readonly NamedArray[], calibration: readonly Int32Array[], pattern: SparsityPattern): Promise<PrunedModel> {
  const seqLen = Math.min(config.contextLength, ...calibration.map((r) => r.length));
  if (calibration.length === 0 || seqLen < 1) throw new RangeError("Wanda needs at least one calibration row of tokens");
  const byName = new Map(arrays.map((a) => [a.name, { ...a }]));
  const report: PrunedModel["report"] = [];
  const tensors = importParams(config, paramLayout(config).map((s) => byName.get(s.name) as NamedArray));
  let w = structureWeights(config, tensors);
  const tokens = tf.tensor2d(Int32Array.from(calibration.flatMap((r) => Array.from(r.subarray(0, seqLen)))), [calibration.length, seqLen], "int32");
  let hidden = tf.tidy(() => embedAt(config, w, tokens, 0));
  tokens.dispose();
  try {
    for (let layer = 0; layer < config.layers; layer++) {
      // Sum of squares of each input feature over every calibration token, per site.
      const sums = new Map<LinearSite, tf.Tensor>();
      tf.tidy(() => {
        blockCached(config, w.blocks[layer] as (typeof w.blocks)[number], hidden, undefined, 0, (site, input) => {
          const width = input.shape[input.shape.length - 1] as number;
          sums.set(site, tf.keep(tf.sum(tf.square(tf.reshape(input, [-1, width])), 0)));
        });
      });
      const norms = new Map<LinearSite, Float32Array>();
      for (const [site, t] of sums) norms.set(site, Float32Array.from((await t.data()) as Float32Array, Math.sqrt));
      tf.dispose([...sums.values()]);
      for (const [suffix, site] of Object.entries(SITE_OF)) {
        const a = byName.get(`h.${layer}.${suffix}`);
        if (a === undefined) continue;
        const [rows, cols] = a.shape as [number, number];
        const pruned = wandaPrune(a.data as Float32Array, rows, cols, norms.get(site) as Float32Array, pattern);
        a.data = pruned.weights;
        report.push({ name: a.name, sparsity: pruned.prunedPerOutput.reduce((s, n) => s + n, 0) / (rows * cols) });
      }
      // Rebuild with block `layer` pruned and carry the calibration states through it.
      const next = importParams(config, paramLayout(config).map((s) => byName.get(s.name) as NamedArray));
      tf.dispose(tensors.splice(0, tensors.length, ...next));
      w = structureWeights(config, tensors);
      const prev = hidden;
      hidden = tf.tidy(() => blockCached(config, w.blocks[layer] as (typeof w.blocks)[number], prev, undefined, 0).out);
      prev.dispose();
    }
  } finally {
    hidden.dispose();
    tf.dispose(tensors);
  }
  return { arrays: paramLayout(config).map((s) => byName.get(s.name) as NamedArray), report };
}
