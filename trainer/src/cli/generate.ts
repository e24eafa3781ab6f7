#!/usr/bin/env node
// gantry-generate: text from a Gantry checkpoint (the newest whole one under a root), a compressed model file, or a
// Hugging Face GPT-2 model.safetensors; greedy, sampling, beam search or speculative decoding over the KV cache,
// streaming tokens as they come; optionally (experimental) confidence-based early exit for greedy and sampling.
// Statistics (cache size, tokens/s, acceptance rate, layers used) go to stderr.
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { encodeText, tokenizerFor } from "@gantry/dataloader";
import { runCommand, s3ClientFromEnv, selectBackendFlag, usageExit } from "./command-shell.js";
import { decodeTokens } from "../generate/decode.js";
import { loadModel, modelWeights } from "../model-source/load-model.js";
import { TextStreamer } from "../generate/stream-text.js";
import { beamSearch } from "../inference/beam-search.js";
import { earlyExitGenerate } from "../inference/early-exit.js";
import { DecodingOptionError } from "../inference/errors.js";
import { generate, type DecodingModel } from "../inference/generate.js";
import { kvCacheBytesPerToken } from "../inference/kv-cache.js";
import { speculativeGenerate } from "../inference/speculative.js";

const USAGE = `usage: gantry-generate --checkpoint URI [--prompt TEXT] [--tokens N] [--strategy greedy|sample|beam|speculative]
    [--temperature T] [--top-k K] [--top-p P] [--seed S] [--beam-width W] [--length-penalty A] [--early-stopping]
    [--draft URI] [--draft-tokens K] [--early-exit THRESHOLD [--early-exit-min-layers N]] [--no-cache]
    [--tokenizer NAME] [--backend B]
  URI is a checkpoint root (file:///path or s3://bucket/prefix; the newest whole checkpoint there), a compressed model
  file from gantry-compress, or a Hugging Face GPT-2 model.safetensors (config.json beside it). S3 settings come from
  S3_ENDPOINT, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. --strategy defaults to sample (greedy at temperature 0);
  speculative needs --draft, a smaller model of the same vocabulary. --tokens is capped at the context left.
  --early-exit (experimental; greedy and sample): each token stops at the first layer, from --early-exit-min-layers
  (default 1) on, where the final LayerNorm + LM head give a top-1 probability above THRESHOLD (above 1: never).`;

const STRATEGIES = ["greedy", "sample", "beam", "speculative"] as const;
type Strategy = (typeof STRATEGIES)[number];

function num(name: string, raw: string, check: (n: number) => boolean, expected: string): number {
  const n = Number(raw);
  if (!check(n)) throw new DecodingOptionError(`--${name}`, raw, expected);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      checkpoint: { type: "string" },
      model: { type: "string" },
      prompt: { type: "string", default: "" },
      tokens: { type: "string", default: "200" },
      strategy: { type: "string", default: "sample" },
      temperature: { type: "string", default: "0.8" },
      "top-k": { type: "string", default: "40" },
      "top-p": { type: "string", default: "1" },
      seed: { type: "string", default: "1" },
      "beam-width": { type: "string", default: "4" },
      "length-penalty": { type: "string", default: "1" },
      "early-stopping": { type: "boolean", default: false },
      draft: { type: "string" },
      "draft-tokens": { type: "string", default: "4" },
      "early-exit": { type: "string" },
      "early-exit-min-layers": { type: "string", default: "1" },
      "no-cache": { type: "boolean", default: false },
      tokenizer: { type: "string" },
      backend: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const source = values.checkpoint ?? values.model;
  if (values.help || source === undefined) return usageExit(USAGE, values.help);
  return runCommand("gantry-generate", async () => {
    const strategy = values.strategy as Strategy;
    if (!STRATEGIES.includes(strategy)) throw new DecodingOptionError("--strategy", values.strategy, STRATEGIES.join(", "));
    if (strategy === "speculative" && values.draft === undefined) throw new DecodingOptionError("--draft", undefined, "a draft model for --strategy speculative");
    const earlyExit = values["early-exit"] === undefined ? undefined : num("early-exit", values["early-exit"], (n) => Number.isFinite(n) && n >= 0, "a top-1 probability threshold ≥ 0");
    if (earlyExit !== undefined && (strategy === "beam" || strategy === "speculative")) throw new DecodingOptionError("--early-exit", values["early-exit"], "--strategy greedy or sample");
    if (earlyExit !== undefined && values["no-cache"]) throw new DecodingOptionError("--early-exit", values["early-exit"], "the KV cache (drop --no-cache)");
    const s3 = s3ClientFromEnv([source, values.draft ?? ""], "gantry-generate");
    await selectBackendFlag(values.backend);
    const loaded = await loadModel(source, { ...(s3 === undefined ? {} : { s3 }), ...(values.tokenizer === undefined ? {} : { tokenizer: values.tokenizer }) });
    const { weights, flat } = modelWeights(loaded);
    const model: DecodingModel = { config: loaded.config, weights };
    const tokenizer = loaded.tokenizer;
    const eos = tokenizerFor(tokenizer).eosToken;
    const encoded = encodeText(tokenizer, values.prompt);
    const prompt = encoded.length > 0 ? encoded : [eos];
    const asked = num("tokens", values.tokens, (n) => Number.isInteger(n) && n >= 0, "an integer ≥ 0");
    const maxNewTokens = Math.max(0, Math.min(asked, loaded.config.contextLength - prompt.length));
    const temperature = strategy === "greedy" ? 0 : num("temperature", values.temperature, (n) => n >= 0, "a number ≥ 0");
    const sampling = { temperature, topK: num("top-k", values["top-k"], (n) => Number.isInteger(n) && n >= 0, "an integer ≥ 0"), topP: num("top-p", values["top-p"], (n) => n > 0 && n <= 1, "a number in (0, 1]") };
    const seed = num("seed", values.seed, Number.isInteger, "an integer");
    console.error(`# ${loaded.description}: ${loaded.config.layers} layers, dModel ${loaded.config.dModel}, heads ${loaded.config.heads}, kvHeads ${loaded.config.kvHeads}, ${tokenizer} tokens`);
    if (maxNewTokens < asked) console.error(`# ${asked} tokens asked; ${maxNewTokens} fit in the context of ${loaded.config.contextLength} after the ${prompt.length}-token prompt`);
    const streamer = new TextStreamer(tokenizer, (t) => process.stdout.write(t), new Set([eos]));
    const onToken = (t: number) => streamer.push(t);
    const started = performance.now();
    let produced = 0;
    let extra = "";
    if (strategy === "beam") {
      const r = await beamSearch(model, prompt, { width: num("beam-width", values["beam-width"], (n) => Number.isInteger(n) && n >= 1, "an integer ≥ 1"), maxNewTokens: Math.max(1, maxNewTokens), lengthPenalty: num("length-penalty", values["length-penalty"], Number.isFinite, "a finite number"), earlyStopping: values["early-stopping"], stopToken: eos });
      process.stdout.write(decodeTokens(tokenizer, r.newTokens.filter((t) => t !== eos)));
      produced = r.newTokens.length;
      extra = `, score ${r.score.toFixed(4)}`;
    } else if (strategy === "speculative") {
      const d = await loadModel(values.draft as string, s3 === undefined ? {} : { s3 });
      const dw = modelWeights(d);
      try {
        const r = await speculativeGenerate(model, { config: d.config, weights: dw.weights }, prompt, { ...sampling, maxNewTokens, seed, draftTokens: num("draft-tokens", values["draft-tokens"], (n) => Number.isInteger(n) && n >= 1, "an integer ≥ 1"), stopToken: eos, onToken });
        produced = r.newTokens.length;
        extra = `, draft ${d.description}: acceptance ${r.proposed === 0 ? "n/a" : ((100 * r.accepted) / r.proposed).toFixed(1)}% (${r.accepted}/${r.proposed}), ${r.rounds} target passes`;
      } finally {
        tf.dispose(dw.flat);
      }
    } else if (earlyExit !== undefined) {
      const minLayers = num("early-exit-min-layers", values["early-exit-min-layers"], (n) => Number.isInteger(n) && n >= 1 && n <= loaded.config.layers, `an integer in [1, ${loaded.config.layers}]`);
      const r = await earlyExitGenerate(model, prompt, { ...sampling, maxNewTokens, seed, stopToken: eos, onToken, threshold: earlyExit, minLayers });
      produced = r.newTokens.length;
      const early = r.layersUsed.filter((l) => l < loaded.config.layers).length;
      extra = `, early exit above ${earlyExit}: ${r.meanLayers.toFixed(2)} of ${loaded.config.layers} layers per token on average, ${early}/${produced} tokens exited early`;
    } else {
      const r = await generate(model, prompt, { ...sampling, maxNewTokens, seed, stopToken: eos, useCache: !values["no-cache"], onToken });
      produced = r.newTokens.length;
      extra = values["no-cache"] ? ", no KV cache" : `, KV cache ${r.cacheBytes} bytes (${kvCacheBytesPerToken(loaded.config)} per token)`;
    }
    streamer.end();
    process.stdout.write("\n");
    const seconds = (performance.now() - started) / 1000;
    console.error(`# ${strategy}: ${produced} tokens in ${seconds.toFixed(2)} s (${(produced / seconds).toFixed(1)} tokens/s)${extra}`);
    tf.dispose(flat);
    return 0;
  });
}

process.exitCode = await main();
