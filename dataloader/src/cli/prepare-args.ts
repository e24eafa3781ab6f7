// Parses `gantry-data prepare` arguments into options; pure, so the CLI's contract is unit-tested.
import { TOKENIZER_NAMES, byteQuantity, type TokenizerName } from "@gantry/crds";
import { parseArgs } from "node:util";
import { DEFAULT_SHARD_BYTES } from "../prepare/dataset-writer.js";

export const PREPARE_USAGE = `usage: gantry-data prepare --output <file:///dir | s3://bucket/prefix> [options] <file or folder>...

Tokenizes JSONL (one {"text": ...} object per line) or .txt files into Megatron token shards and index.json.

  --output URI        where to write the dataset (S3 credentials from S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY)
  --format F          jsonl (default) or text (each .txt file is one document)
  --text-field NAME   JSONL field holding the text (default: text)
  --tokenizer T       ${TOKENIZER_NAMES.join(", ")} (default: gpt2)
  --shard-size SIZE   target .bin size per shard, e.g. 64Mi, 100M (default: 64Mi)
  --threads N         tokenizer worker threads (default: 2; 0 tokenizes on the main thread)
  --restart           ignore the partial manifest (index.partial.json) an interrupted run left, and start over

An interrupted run leaves index.partial.json listing the shards already uploaded; rerunning the same command keeps
them and continues after their last document, producing the same bytes as a run that was never interrupted.
`;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface PrepareArgs {
  output: string;
  inputs: string[];
  format: "jsonl" | "text";
  textField: string;
  tokenizer: TokenizerName;
  shardBytes: number;
  threads: number;
  restart: boolean;
}

/** A Kubernetes-style byte quantity: 64Mi, 100M, 1048576. */
export function parseBytes(text: string): number {
  const bytes = byteQuantity(text);
  if (bytes === undefined) throw new UsageError(`${text} is not a size such as 64Mi or 100M`);
  if (bytes < 1) throw new UsageError(`size ${text} must be at least one byte`);
  return bytes;
}

export function parsePrepareArgs(argv: readonly string[]): PrepareArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        output: { type: "string" },
        format: { type: "string", default: "jsonl" },
        "text-field": { type: "string", default: "text" },
        tokenizer: { type: "string", default: "gpt2" },
        "shard-size": { type: "string" },
        threads: { type: "string", default: "2" },
        restart: { type: "boolean", default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.output === undefined) throw new UsageError("--output is required");
  if (positionals.length === 0) throw new UsageError("give at least one input file or folder");
  const format = values.format;
  if (format !== "jsonl" && format !== "text") throw new UsageError(`--format must be jsonl or text, not ${format}`);
  const tokenizer = TOKENIZER_NAMES.find((t) => t === values.tokenizer);
  if (tokenizer === undefined) throw new UsageError(`--tokenizer must be one of ${TOKENIZER_NAMES.join(", ")}, not ${values.tokenizer}`);
  const threads = Number(values.threads);
  if (!/^\d+$/.test(values.threads) || threads > 64) throw new UsageError(`--threads must be an integer from 0 to 64, not ${values.threads}`);
  return {
    output: values.output,
    inputs: positionals,
    format,
    textField: values["text-field"],
    tokenizer,
    shardBytes: values["shard-size"] === undefined ? DEFAULT_SHARD_BYTES : parseBytes(values["shard-size"]),
    threads,
    restart: values.restart,
  };
}
