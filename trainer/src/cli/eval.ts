#!/usr/bin/env node
// gantry-eval: perplexity of a model (checkpoint root, compressed model file, or HF GPT-2 weights) on a dataset from
// any dataloader source (token shards or raw text, file:// or s3://), with a progress bar on stderr.
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import cliProgress from "cli-progress";
import { perplexityOf } from "../eval/perplexity.js";
import { readEvalRows } from "../eval/eval-rows.js";
import { loadModel, modelWeights } from "../model-source/load-model.js";
import { DecodingOptionError } from "../inference/errors.js";
import { runCommand, s3ClientFromEnv, selectBackendFlag, usageExit } from "./command-shell.js";

const USAGE = `usage: gantry-eval --checkpoint URI --data URI [--samples N] [--batch B] [--format tokens|text|jsonl] [--tokenizer NAME] [--backend B] [--json]
  Perplexity (exp of the mean next-token cross-entropy) over the first N sequences (default 256) of contextLength + 1
  tokens, read in order. --data is a prepared token dataset (index.json) or raw text under a prefix.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      checkpoint: { type: "string" },
      model: { type: "string" },
      data: { type: "string" },
      samples: { type: "string", default: "256" },
      batch: { type: "string", default: "8" },
      format: { type: "string" },
      tokenizer: { type: "string" },
      backend: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  const source = values.checkpoint ?? values.model;
  if (values.help || source === undefined || values.data === undefined) return usageExit(USAGE, values.help);
  const data = values.data;
  return runCommand("gantry-eval", async () => {
    const samples = Number(values.samples);
    const batch = Number(values.batch);
    if (!Number.isInteger(samples) || samples < 1) throw new DecodingOptionError("--samples", values.samples, "an integer ≥ 1");
    if (!Number.isInteger(batch) || batch < 1) throw new DecodingOptionError("--batch", values.batch, "an integer ≥ 1");
    const format = values.format;
    if (format !== undefined && format !== "tokens" && format !== "text" && format !== "jsonl") throw new DecodingOptionError("--format", format, "tokens, text or jsonl");
    const s3 = s3ClientFromEnv([source, data], "gantry-eval");
    await selectBackendFlag(values.backend);
    const loaded = await loadModel(source, { ...(s3 === undefined ? {} : { s3 }), ...(values.tokenizer === undefined ? {} : { tokenizer: values.tokenizer }) });
    const rows = await readEvalRows(data, { tokenizer: loaded.tokenizer, contextLength: loaded.config.contextLength, maxRows: samples, batchRows: batch, ...(format === undefined ? {} : { format }), ...(s3 === undefined ? {} : { s3 }) });
    const { weights, flat } = modelWeights(loaded);
    const bar = new cliProgress.SingleBar({ format: "eval [{bar}] {value}/{total} sequences | {eta}s left", stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
    bar.start(rows.length, 0);
    const r = await perplexityOf(loaded.config, weights, rows, { batchSize: batch, onProgress: (done) => bar.update(done) });
    bar.stop();
    tf.dispose(flat);
    const out = { model: loaded.description, data, sequences: rows.length, tokens: r.tokens, loss: r.loss, perplexity: r.perplexity };
    if (values.json) console.log(JSON.stringify(out));
    else console.log(`${loaded.description}\n  ${data}: ${rows.length} sequences, ${r.tokens} tokens\n  loss ${r.loss.toFixed(4)}  perplexity ${r.perplexity.toFixed(3)}`);
    return 0;
  });
}

process.exitCode = await main();
