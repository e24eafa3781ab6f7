#!/usr/bin/env node
// gantry-serve: an OpenAI-compatible HTTP endpoint (POST /v1/completions, /v1/chat/completions; non-streaming) over
// the newest checkpoint under a URI, so `gantry-data distill` and any OpenAI client can use our own model.
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { EXIT } from "@gantry/crds";
import { selectBackend, type BackendName } from "../backend/select-backend.js";
import { loadCheckpointModel } from "../model-source/checkpoint-model.js";
import { exitFor } from "../run/exit-code.js";
import { needsS3, s3ClientFor } from "../run/storage.js";
import { fromManifest } from "../runtime/run-config.js";
import { servedModel } from "../serve/served-model.js";
import { createServeServer } from "../serve/serve-server.js";

const USAGE = `usage: gantry-serve --checkpoint URI [--port 8000] [--host 127.0.0.1] [--model-name NAME] [--backend B] [--quiet]
  Serves the newest whole checkpoint under URI (file:///path, a folder, or s3://bucket/prefix with S3_ENDPOINT,
  AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) as an OpenAI-compatible endpoint: POST /v1/completions and
  /v1/chat/completions (non-streaming; max_tokens, temperature, top_k, seed, n, stop), GET /v1/models, GET /health.`;

const asUri = (p: string): string => (/^[a-z][a-z0-9+.-]*:\/\//i.test(p) ? p : pathToFileURL(resolve(p)).href);

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
  if (values.help || values.checkpoint === undefined) {
    console.error(USAGE);
    return values.help ? 0 : EXIT.badConfig;
  }
  try {
    const uri = asUri(values.checkpoint);
    const cfg = fromManifest(`spec: {data: {source: "file:///unused"}, training: {steps: 1}}`, "gantry-serve", { env: process.env });
    const s3 = needsS3(uri) ? s3ClientFor(cfg.s3, [uri]) : undefined;
    await selectBackend(values.backend ? { order: [values.backend as BackendName] } : {});
    const m = await loadCheckpointModel(uri, s3);
    const model = servedModel(values["model-name"] ?? `gantry:${m.dir}`, m.config, m.tokenizer, m.arrays);
    const server = createServeServer(model, values.quiet ? {} : { onRequest: (method, path, status, ms) => console.error(`${method} ${path} ${status} ${ms.toFixed(0)} ms`) });
    const port = Number(values.port);
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
  } catch (err) {
    const { code, message } = exitFor(err);
    console.error(`gantry-serve: ${message}`);
    return code;
  }
}

process.exitCode = await main();
