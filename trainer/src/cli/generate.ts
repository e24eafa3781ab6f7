#!/usr/bin/env node
// gantry-generate: samples text from a Gantry checkpoint (the newest whole one under a checkpoint root, or a given
// step directory's root), rebuilding the model from the shape its manifest records.
import { parseArgs } from "node:util";
import { EXIT, TOKENIZER_NAMES, type TokenizerName } from "@gantry/crds";
import { encodeText } from "@gantry/dataloader";
import { selectBackend, type BackendName } from "../backend/select-backend.js";
import { CheckpointReader } from "../checkpoint/checkpoint-reader.js";
import { openCheckpointStore } from "../checkpoint/checkpoint-store.js";
import { decodeTokens } from "../generate/decode.js";
import { sample } from "../generate/sample.js";
import { structureWeights } from "../model/gpt-weights.js";
import { validateModelConfig, type ModelConfig } from "../model/model-config.js";
import { importParams } from "../model/param-io.js";
import { openClients } from "../run/clients.js";
import { exitFor } from "../run/exit-code.js";
import { ConfigError, fromManifest } from "../runtime/run-config.js";

const USAGE = `usage: gantry-generate --checkpoint URI [--prompt TEXT] [--tokens N] [--temperature T] [--top-k K] [--seed S] [--backend B]
  URI is a checkpoint root (file:///path or s3://bucket/prefix; S3 settings from S3_ENDPOINT, AWS_ACCESS_KEY_ID and
  AWS_SECRET_ACCESS_KEY). The newest whole checkpoint there is used.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      checkpoint: { type: "string" },
      prompt: { type: "string", default: "" },
      tokens: { type: "string", default: "200" },
      temperature: { type: "string", default: "0.8" },
      "top-k": { type: "string", default: "40" },
      seed: { type: "string", default: "1" },
      backend: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || values.checkpoint === undefined) {
    console.error(USAGE);
    return values.help ? 0 : EXIT.badConfig;
  }
  try {
    const uri = values.checkpoint;
    // A minimal local run config supplies the S3 settings from the environment when the URI is on S3.
    const cfg = fromManifest(`spec: {data: {source: "file:///unused"}, training: {steps: 1}, checkpointing: {uri: "${uri.replace(/"/g, "")}"}}`, "gantry-generate", { env: process.env });
    const clients = openClients(cfg);
    try {
      await selectBackend(values.backend ? { order: [values.backend as BackendName] } : {});
      const latest = await new CheckpointReader(openCheckpointStore(uri, clients.s3)).latest();
      if (latest === undefined) throw new ConfigError(`no whole checkpoint under ${uri}`);
      const extra = latest.manifest.extra ?? {};
      if (typeof extra["model"] !== "string") throw new ConfigError(`${latest.dir} records no model shape (written by an older trainer)`);
      const config = validateModelConfig(JSON.parse(extra["model"]) as ModelConfig);
      const tokenizer = String(extra["tokenizer"] ?? "gpt2") as TokenizerName;
      if (!TOKENIZER_NAMES.includes(tokenizer)) throw new ConfigError(`${latest.dir} names an unknown tokenizer ${tokenizer}`);
      const params = importParams(config, latest.weights);
      const eos = { gpt2: 50256, cl100k_base: 100257, bytes: 0 }[tokenizer];
      const prompt = encodeText(tokenizer, values.prompt);
      const out = await sample(config, structureWeights(config, params), prompt, {
        maxNewTokens: Number(values.tokens),
        temperature: Number(values.temperature),
        topK: Number(values["top-k"]),
        seed: Number(values.seed),
        stopToken: eos,
      });
      console.error(`# ${latest.dir} (step ${latest.step}), ${tokenizer} tokens`);
      console.log(decodeTokens(tokenizer, out.filter((t) => t !== eos)));
      return 0;
    } finally {
      await clients.close();
    }
  } catch (err) {
    const { code, message } = exitFor(err);
    console.error(`gantry-generate: ${message}`);
    return code;
  }
}

process.exitCode = await main();
