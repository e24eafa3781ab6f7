#!/usr/bin/env node
// gantry-serve: an OpenAI-compatible HTTP endpoint (POST /v1/completions, /v1/chat/completions; non-streaming) over
// the newest checkpoint under a URI, so `gantry-data distill` and any OpenAI client can use our own model.
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { EXIT } from "@gantry/crds";
import { loadCheckpointModel } from "../model-source/checkpoint-model.js";
import { exitFor } from "../run/exit-code.js";
import { servedModel } from "../serve/served-model.js";
import { createServeServer } from "../serve/serve-server.js";
import { asUri, parsePortFlag, runCommand, s3ClientFromEnv, selectBackendFlag, usageExit } from "./command-shell.js";

const USAGE = `usage: gantry-serve --checkpoint URI [--port 8000] [--host 127.0.0.1] [--model-name NAME] [--backend B] [--quiet]
  Serves the newest whole checkpoint under URI (file:///path, a folder, or s3://bucket/prefix with S3_ENDPOINT,
  AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) as an OpenAI-compatible endpoint: POST /v1/completions and
  /v1/chat/completions (non-streaming; max_tokens, temperature, top_k, seed, n, stop), GET /v1/models, GET /health.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      checkpoint: { type: "string" },
      port: { type: "string", default: "8000" },
      host: { type: "string", default: "127.0.0.1" },
      "model-name": { type: "string" },
      backend: { type: "string" },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || values.checkpoint === undefined) return usageExit(USAGE, values.help);
  const uri = asUri(values.checkpoint);
  // exitFor, as before: a model error here is a ConfigError already.
  return runCommand("gantry-serve", async () => {
    const port = parsePortFlag(values.port);
    const s3 = s3ClientFromEnv([uri], "gantry-serve");
    await selectBackendFlag(values.backend);
    const m = await loadCheckpointModel(uri, s3);
    const model = servedModel(values["model-name"] ?? `gantry:${m.dir}`, m.config, m.tokenizer, m.arrays);
    const server = createServeServer(model, values.quiet ? {} : { onRequest: (method, path, status, ms) => console.error(`${method} ${path} ${status} ${ms.toFixed(0)} ms`) });
    await new Promise<void>((done, fail) => {
      server.once("error", fail);
      server.listen(port, values.host, done);
    });
    // The bound port, which differs from --port 0.
    const bound = (server.address() as AddressInfo).port;
    console.error(`gantry-serve: ${m.uri} ${m.dir} (step ${m.step}, ${m.tokenizer}) as ${model.id} on http://${values.host}:${bound}/v1`);
    await new Promise<void>((done) => {
      const stop = () => server.close(() => done());
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    model.dispose();
    return EXIT.success;
  }, exitFor);
}

process.exitCode = await main();
