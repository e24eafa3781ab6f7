// Evaluation rows from any dataloader source: token shards (a prepared dataset with index.json) read in order, or raw
// text (.txt, .jsonl, .gz under a prefix) tokenized and packed, both unshuffled and cut at maxRows.
import type { TokenizerName } from "@gantry/crds";
import { TextStreamLoader, TokenDataLoader, openStore, type ObjectStore } from "@gantry/dataloader";
import type { Client } from "minio";

export interface EvalRowsOptions {
  tokenizer: TokenizerName;
  contextLength: number;
  maxRows: number;
  /** Default: tokens when the source has index.json, else jsonl when its files are .jsonl(.gz), else text. */
  format?: "tokens" | "text" | "jsonl";
  /** Rows read per loader step. */
  batchRows?: number;
  s3?: Client;
}

const PLACE = { jobUid: "gantry-eval", attempt: 0, rank: 0, worldSize: 1, seed: 0, shuffle: false } as const;

async function detectFormat(store: ObjectStore): Promise<"tokens" | "text" | "jsonl"> {
  if ((await store.readIfExists("index.json")) !== undefined) return "tokens";
  for await (const o of store.list()) if (/\.jsonl(\.gz)?$/.test(o.key)) return "jsonl";
  return "text";
}

/** Up to maxRows rows of contextLength + 1 tokens, the same ones on every call. */
export async function readEvalRows(uri: string, opts: EvalRowsOptions): Promise<Int32Array[]> {
  const store = openStore(uri, opts.s3 === undefined ? undefined : { client: opts.s3 });
  const batchRows = opts.batchRows ?? 8;
  const rows: Int32Array[] = [];
  const format = opts.format ?? (await detectFormat(store));
  if (format === "tokens") {
    const loader = await TokenDataLoader.open(store, { ...PLACE, contextLength: opts.contextLength, globalBatch: batchRows, windowShards: 16, cacheBytes: 256 << 20, prefetchSteps: 1 });
    // One epoch at most: the dataset read once.
    const limit = Math.min(opts.maxRows, loader.order.samplesPerEpoch);
    for (let step = 0; rows.length < limit; step++) for (const s of (await loader.batch(step)).samples) if (rows.length < limit) rows.push(s.tokens.slice());
    return rows;
  }
  const loader = await TextStreamLoader.open([{ name: "eval", store, format }], { ...PLACE, contextLength: opts.contextLength, globalBatch: batchRows, tokenizer: opts.tokenizer, prefetchBytes: 64 << 20, tokenizerThreads: 0 });
  try {
    for (let step = 0; rows.length < opts.maxRows; step++) for (const s of (await loader.batch(step)).samples) if (rows.length < opts.maxRows) rows.push(s.tokens.slice());
  } finally {
    await loader.close();
  }
  return rows;
}
