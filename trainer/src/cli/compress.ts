#!/usr/bin/env node
// gantry-compress: int8 quantization or Wanda pruning of a model into a self-describing safetensors file that
// gantry-generate and gantry-eval load like a checkpoint. With --eval-data it reports the perplexity change.
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { encodeSafetensors } from "../checkpoint/safetensors.js";
import { encodeCompressedModel, type CompressedModelInfo } from "../compress/compressed-model.js";
import { pruneModel } from "../compress/prune-model.js";
import type { SparsityPattern } from "../compress/wanda.js";
import { perplexityOf } from "../eval/perplexity.js";
import { readEvalRows } from "../eval/eval-rows.js";
import { loadModel, modelWeights, type LoadedModel } from "../model-source/load-model.js";
import { DecodingOptionError } from "../inference/errors.js";
import type { NamedArray } from "../checkpoint/named-array.js";
import { runCommand, s3ClientFromEnv, selectBackendFlag, usageExit } from "./command-shell.js";

const USAGE = `usage: gantry-compress quantize --checkpoint URI --out FILE [--eval-data URI] [--samples N]
       gantry-compress prune    --checkpoint URI --calibration URI --sparsity S | --pattern 2:4 --out FILE
                                [--calibration-samples N] [--quantize] [--eval-data URI] [--samples N]
  quantize: per-channel symmetric int8 of every linear layer (and the tied LM head), stored as I8 plus scales.
  prune: Wanda (|W|·‖X‖₂ from calibration activations), the lowest scores of each output channel zeroed.
  FILE is a local path ending in .safetensors; URIs as for gantry-generate; data as for gantry-eval.`;

async function perplexity(m: Pick<LoadedModel, "config" | "arrays">, rows: Int32Array[]): Promise<number> {
  const { weights, flat } = modelWeights(m);
  const r = await perplexityOf(m.config, weights, rows);
  tf.dispose(flat);
  return r.perplexity;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      checkpoint: { type: "string" },
      model: { type: "string" },
      out: { type: "string" },
      calibration: { type: "string" },
      "calibration-samples": { type: "string", default: "32" },
      sparsity: { type: "string" },
      pattern: { type: "string" },
      quantize: { type: "boolean", default: false },
      "eval-data": { type: "string" },
      samples: { type: "string", default: "64" },
      backend: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const command = positionals[0];
  const source = values.checkpoint ?? values.model;
  if (values.help || source === undefined || values.out === undefined || (command !== "quantize" && command !== "prune")) return usageExit(USAGE, values.help);
  const out = values.out;
  return runCommand("gantry-compress", async () => {
    if (!out.endsWith(".safetensors")) throw new DecodingOptionError("--out", out, "a path ending in .safetensors");
    const s3 = s3ClientFromEnv([source, values.calibration ?? "", values["eval-data"] ?? ""], "gantry-compress");
    const s3opt = s3 === undefined ? {} : { s3 };
    await selectBackendFlag(values.backend);
    const loaded = await loadModel(source, s3opt);
    let arrays: NamedArray[] = loaded.arrays;
    const info: CompressedModelInfo = { quantization: command === "quantize" || values.quantize ? "int8-per-channel" : "none" };
    if (command === "prune") {
      if (values.calibration === undefined) throw new DecodingOptionError("--calibration", undefined, "a dataset for the activation norms");
      let pattern: SparsityPattern;
      if (values.pattern === "2:4") pattern = { kind: "2:4" };
      else if (values.pattern !== undefined) throw new DecodingOptionError("--pattern", values.pattern, "2:4");
      else {
        const s = Number(values.sparsity);
        if (!(s >= 0 && s < 1)) throw new DecodingOptionError("--sparsity", values.sparsity, "a number in [0, 1)");
        pattern = { kind: "unstructured", sparsity: s };
      }
      const calib = await readEvalRows(values.calibration, { tokenizer: loaded.tokenizer, contextLength: loaded.config.contextLength, maxRows: Number(values["calibration-samples"]), ...s3opt });
      const pruned = await pruneModel(loaded.config, arrays, calib, pattern);
      arrays = pruned.arrays;
      const zeros = pruned.report.reduce((s, r) => s + r.sparsity, 0) / Math.max(1, pruned.report.length);
      info.pruning = pattern.kind === "2:4" ? "wanda 2:4" : `wanda unstructured ${pattern.sparsity}`;
      console.error(`# pruned ${pruned.report.length} matrices with ${calib.length} calibration sequences: mean sparsity ${(100 * zeros).toFixed(2)}%`);
    }
    const bytes = encodeCompressedModel(loaded.config, loaded.tokenizer, arrays, info);
    await writeFile(out, bytes);
    const fp32 = encodeSafetensors(loaded.arrays).length;
    console.log(`${out}: ${bytes.length} bytes, fp32 ${fp32} bytes (${((100 * bytes.length) / fp32).toFixed(1)}%)${info.pruning === undefined ? "" : `, ${info.pruning}`}, ${info.quantization}`);
    if (values["eval-data"] !== undefined) {
      const rows = await readEvalRows(values["eval-data"], { tokenizer: loaded.tokenizer, contextLength: loaded.config.contextLength, maxRows: Number(values.samples), ...s3opt });
      const before = await perplexity(loaded, rows);
      const after = await perplexity({ config: loaded.config, arrays: (await loadModel(out)).arrays }, rows);
      console.log(`perplexity on ${rows.length} sequences: fp32 ${before.toFixed(3)}, compressed ${after.toFixed(3)} (${after >= before ? "+" : ""}${((100 * (after - before)) / before).toFixed(2)}%)`);
    }
    return 0;
  });
}

process.exitCode = await main();
