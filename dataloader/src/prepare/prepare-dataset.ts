// Tokenizes raw-text files into token shards plus index.json: the work behind `gantry-data prepare`. Documents are
// read in order on this thread and encoded in batches on the TokenizerPool's worker threads (several batches in
// flight, results taken in submission order). A partial manifest after every uploaded shard makes a rerun continue
// where an interrupted run stopped, with the same bytes as a run that never stopped.
import { stat } from "node:fs/promises";
import type { Manifest } from "../manifest/manifest-schema.js";
import type { ObjectStore } from "../source/object-store.js";
import { jsonlDocuments, textDocuments } from "../text/documents.js";
import { TokenizerPool } from "../text/tokenizer-pool.js";
import type { Tokenizer } from "../text/tokenizers.js";
import { DatasetWriter } from "./dataset-writer.js";
import { PARTIAL_MANIFEST_FILE, PrepareInputsChangedError, alreadyPrepared, parsePrepareCheckpoint, prepareInputsFingerprint, type PrepareCheckpoint, type PreparePosition } from "./prepare-checkpoint.js";

export interface PrepareOptions {
  files: readonly string[];
  format: "jsonl" | "text";
  textField: string;
  /** Its name picks the encoder the worker threads run (gpt2, cl100k_base, bytes). */
  tokenizer: Tokenizer;
  shardBytes: number;
  /** Tokenizer worker threads (default 2; 0 encodes on this thread). */
  threads?: number;
  /** Ignore a partial manifest from an interrupted run and start over. */
  restart?: boolean;
  /** Called after each document, for progress. */
  onDocument?: (file: string, tokens: number) => void;
  /** Called once before tokenizing, with the shards kept from an interrupted run (0 on a fresh start). */
  onResume?: (keptShards: number, next: PreparePosition) => void;
}

/** Texts per tokenizer request, and their size: big enough to amortize the message, small enough to spread. */
const BATCH_DOCUMENTS = 512;
const BATCH_CHARS = 256 * 1024;

interface Doc {
  text: string;
  /** Where the input stands once this document is in a shard. */
  after: PreparePosition;
  file: string;
}

export async function prepareDataset(out: ObjectStore, opts: PrepareOptions): Promise<Manifest> {
  const t = opts.tokenizer;
  const files = await Promise.all(opts.files.map(async (path) => ({ path, bytes: (await stat(path)).size })));
  const inputs = prepareInputsFingerprint({ files, format: opts.format, textField: opts.textField, tokenizer: t.name, shardBytes: opts.shardBytes });
  const location = `${out.uri.replace(/\/?$/, "/")}${PARTIAL_MANIFEST_FILE}`;
  const resumed = opts.restart === true ? undefined : await readCheckpoint(out, location, inputs);
  const next = resumed?.next ?? { file: 0, document: 0 };
  opts.onResume?.(resumed?.shards.length ?? 0, next);

  const writer = new DatasetWriter<PreparePosition>(out, {
    tokenizer: t.name,
    dtype: t.dtype,
    eosToken: t.eosToken,
    shardBytes: opts.shardBytes,
    keep: resumed?.shards ?? [],
    onWritten: (shards, mark) => {
      const checkpoint: PrepareCheckpoint = { version: 1, inputs, shards: [...shards], next: mark };
      return out.write(PARTIAL_MANIFEST_FILE, new TextEncoder().encode(`${JSON.stringify(checkpoint)}\n`));
    },
  });
  const pool = new TokenizerPool(t.name, opts.threads ?? 2);
  try {
    // Encoded batches in submission order; at most threads x 2 in flight, so every thread has the next one queued.
    const inFlight: { docs: Doc[]; tokens: Promise<{ tokens: Int32Array; lengths: Int32Array }> }[] = [];
    const limit = Math.max(1, pool.threads * 2);
    const drainOne = async () => {
      const head = inFlight.shift();
      if (head === undefined) return;
      const enc = await head.tokens;
      let at = 0;
      head.docs.forEach((doc, i) => {
        const n = enc.lengths[i] ?? 0;
        const tokens = enc.tokens.subarray(at, at + n);
        at += n;
        // An empty document would only add a lone EOS to the stream.
        if (n > 0) pendingAdds.push({ tokens, doc });
      });
      for (const a of pendingAdds.splice(0)) {
        await writer.add(a.tokens, a.doc.after);
        opts.onDocument?.(a.doc.file, a.tokens.length);
      }
    };
    const pendingAdds: { tokens: Int32Array; doc: Doc }[] = [];
    let batch: Doc[] = [];
    let chars = 0;
    const submit = async () => {
      if (batch.length === 0) return;
      const tokens = pool.encode(batch.map((d) => d.text));
      // Awaited in order later; until then a failure must not count as unhandled.
      tokens.catch(() => undefined);
      inFlight.push({ docs: batch, tokens });
      batch = [];
      chars = 0;
      if (inFlight.length >= limit) await drainOne();
    };
    for (let f = next.file; f < opts.files.length; f++) {
      const file = opts.files[f] ?? "";
      const docs = opts.format === "jsonl" ? jsonlDocuments(file, opts.textField) : textDocuments(file);
      let d = 0;
      for await (const text of docs) {
        d++;
        // Documents already in kept shards are read past, not tokenized.
        if (alreadyPrepared(next, f, d - 1)) continue;
        batch.push({ text, after: { file: f, document: d }, file });
        chars += text.length;
        if (batch.length >= BATCH_DOCUMENTS || chars >= BATCH_CHARS) await submit();
      }
    }
    await submit();
    while (inFlight.length > 0) await drainOne();
    const manifest = await writer.finish();
    await out.remove?.(PARTIAL_MANIFEST_FILE);
    return manifest;
  } catch (err) {
    // Let uploads in flight land and the partial manifest catch up, so a rerun keeps every shard that made it.
    await writer.settle();
    throw err;
  } finally {
    await pool.close();
  }
}

async function readCheckpoint(out: ObjectStore, location: string, inputs: string): Promise<PrepareCheckpoint | undefined> {
  const bytes = await out.readIfExists(PARTIAL_MANIFEST_FILE);
  if (bytes === undefined) return undefined;
  const checkpoint = parsePrepareCheckpoint(location, new TextDecoder().decode(bytes));
  if (checkpoint.inputs !== inputs) throw new PrepareInputsChangedError(location, checkpoint.inputs, inputs);
  return checkpoint;
}
