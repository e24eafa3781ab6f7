// Tokenizes raw-text files into token shards plus index.json: the work behind `gantry-data prepare`.
import type { Manifest } from "../manifest/manifest-schema.js";
import type { ObjectStore } from "../source/object-store.js";
import { jsonlDocuments, textDocuments } from "../text/documents.js";
import type { Tokenizer } from "../text/tokenizers.js";
import { DatasetWriter } from "./dataset-writer.js";

export interface PrepareOptions {
  files: readonly string[];
  format: "jsonl" | "text";
  textField: string;
  tokenizer: Tokenizer;
  shardBytes: number;
  /** Called after each document, for progress. */
  onDocument?: (file: string, tokens: number) => void;
}

export async function prepareDataset(out: ObjectStore, opts: PrepareOptions): Promise<Manifest> {
  const t = opts.tokenizer;
  const writer = new DatasetWriter(out, { tokenizer: t.name, dtype: t.dtype, eosToken: t.eosToken, shardBytes: opts.shardBytes });
  for (const file of opts.files) {
    const docs = opts.format === "jsonl" ? jsonlDocuments(file, opts.textField) : textDocuments(file);
    for await (const text of docs) {
      const tokens = t.encode(text);
      // An empty document would only add a lone EOS to the stream.
      if (tokens.length === 0) continue;
      await writer.add(tokens);
      opts.onDocument?.(file, tokens.length);
    }
  }
  return writer.finish();
}
