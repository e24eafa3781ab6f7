// A small token dataset on local disk, as the trainer's integration tests train on: the deterministic corpus
// (corpus.ts) tokenized with the bytes tokenizer into 8 KiB shards.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { openStore, prepareDataset, tokenizerFor } from "@gantry/dataloader";
import { writeCorpus } from "./corpus.js";

/** Writes `docs` documents under `root`/text, prepares them into `root`/data and returns that directory. */
export async function writeTokenDataset(root: string, docs: number): Promise<string> {
  const text = join(root, "text");
  mkdirSync(text);
  const files = writeCorpus(text, docs);
  const data = join(root, "data");
  mkdirSync(data);
  await prepareDataset(openStore(pathToFileURL(data).href), { files, format: "text", textField: "text", tokenizer: tokenizerFor("bytes"), shardBytes: 8192 });
  return data;
}
