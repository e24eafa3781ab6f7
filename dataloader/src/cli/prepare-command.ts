// gantry-data prepare: tokenizes JSONL or text files into token shards and a manifest, locally or on S3.
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { SingleBar, Presets } from "cli-progress";
import { prepareDataset } from "../prepare/prepare-dataset.js";
import { openStore } from "../source/open-store.js";
import { createS3Client } from "../source/s3-client.js";
import { parseSourceUri } from "../source/source-uri.js";
import { tokenizerFor } from "../text/tokenizers.js";
import { UsageError, parsePrepareArgs, type PrepareArgs } from "./prepare-args.js";

async function inputFiles(paths: readonly string[], format: PrepareArgs["format"]): Promise<string[]> {
  const ext = format === "jsonl" ? ".jsonl" : ".txt";
  const out: string[] = [];
  for (const p of paths) {
    if ((await stat(p)).isDirectory()) {
      const entries = await readdir(p, { recursive: true, withFileTypes: true });
      out.push(...entries.filter((e) => e.isFile() && e.name.endsWith(ext)).map((e) => join(e.parentPath, e.name)).sort());
    } else out.push(p);
  }
  return out;
}

function s3FromEnv() {
  const env = process.env;
  const endpoint = env["S3_ENDPOINT"] ?? env["AWS_ENDPOINT_URL"];
  const accessKey = env["S3_ACCESS_KEY"] ?? env["AWS_ACCESS_KEY_ID"];
  const secretKey = env["S3_SECRET_KEY"] ?? env["AWS_SECRET_ACCESS_KEY"];
  if (endpoint === undefined || accessKey === undefined || secretKey === undefined) throw new UsageError("an s3:// output needs S3_ENDPOINT, S3_ACCESS_KEY and S3_SECRET_KEY");
  const sessionToken = env["AWS_SESSION_TOKEN"];
  return createS3Client({ endpoint, accessKey, secretKey, region: env["S3_REGION"] ?? "us-east-1", pathStyle: true, ...(sessionToken === undefined ? {} : { sessionToken }) });
}

/** Runs `gantry-data prepare` with the arguments after "prepare"; throws UsageError for bad arguments. */
export async function runPrepare(argv: readonly string[]): Promise<number> {
  const args = parsePrepareArgs(argv);
  const files = await inputFiles(args.inputs, args.format);
  if (files.length === 0) throw new UsageError(`no ${args.format} files under ${args.inputs.join(", ")}`);
  const store = openStore(args.output, parseSourceUri(args.output).kind === "s3" ? { client: s3FromEnv() } : undefined);
  const bar = new SingleBar({ format: "{bar} {value}/{total} files | {docs} docs | {tokens} tokens | {rate} tokens/s", hideCursor: true }, Presets.shades_classic);
  let docs = 0;
  let tokens = 0;
  let fileIndex = 0;
  let lastFile = "";
  const started = process.hrtime.bigint();
  const rate = () => Math.round(tokens / Math.max(1e-9, Number(process.hrtime.bigint() - started) / 1e9)).toLocaleString("en-US");
  bar.start(files.length, 0, { docs, tokens, rate: 0 });
  const manifest = await prepareDataset(store, {
    files,
    format: args.format,
    textField: args.textField,
    tokenizer: tokenizerFor(args.tokenizer),
    shardBytes: args.shardBytes,
    threads: args.threads,
    restart: args.restart,
    onResume: (kept, next) => {
      fileIndex = next.file;
      if (kept > 0) bar.update(fileIndex, { docs, tokens, rate: 0 });
      if (kept > 0) console.log(`\nresuming: ${kept} shard(s) kept from an interrupted run; continuing at document ${next.document} of ${files[next.file] ?? "the end"}`);
    },
    onDocument: (file, n) => {
      docs++;
      tokens += n;
      if (file !== lastFile) {
        if (lastFile !== "") fileIndex++;
        lastFile = file;
      }
      if (docs % 1000 === 0) bar.update(fileIndex, { docs, tokens, rate: rate() });
    },
  });
  bar.update(files.length, { docs, tokens, rate: rate() });
  bar.stop();
  console.log(`wrote ${manifest.shards.length} shard(s), ${docs} documents, ${tokens} tokens to ${store.uri}`);
  return 0;
}

