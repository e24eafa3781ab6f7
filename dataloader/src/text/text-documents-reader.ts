// One rank's documents of one raw-text stream, in order, from a cursor on: its files for each epoch in turn (never
// ending), records split at byte offsets, held-out documents skipped by the split, in batches for the tokenizer.
import { InvalidTextRecordError } from "../errors.js";
import type { ObjectStore } from "../source/object-store.js";
import { contentChunks, type ChunkOptions } from "../source/object-chunks.js";
import { keepsDocument, type SplitSpec } from "./held-out.js";
import { RecordSplitter } from "./record-splitter.js";
import { rankShards, type TextFormat, type TextShard } from "./text-shards.js";

export interface ReaderStart {
  epoch: number;
  /** Position in this rank's file list for `epoch`. */
  position: number;
  byteOffset: number;
}

export interface DocumentEnd {
  shard: string;
  epoch: number;
  /** Where the next document starts: the cursor's byteOffset once this document is packed. */
  end: number;
}

export interface DocumentBatch {
  texts: string[];
  ends: DocumentEnd[];
  /** UTF-8 bytes of the texts, for the buffer budget. */
  bytes: number;
}

export interface ReaderOptions extends ChunkOptions {
  store: ObjectStore;
  shards: readonly TextShard[];
  format: TextFormat;
  textField: string;
  seed: number;
  shuffle: boolean;
  rank: number;
  worldSize: number;
  split: SplitSpec | undefined;
  maxDocumentBytes: number;
  /** Close a batch for the tokenizer at this many text bytes. */
  batchBytes: number;
}

const utf8 = new TextDecoder("utf-8");

export function parseTextRecord(object: string, start: number, bytes: Uint8Array, format: TextFormat, field: string): string | undefined {
  const text = utf8.decode(bytes);
  if (format === "text") return text;
  if (text.trim() === "") return undefined;
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (err) {
    throw new InvalidTextRecordError(object, start, `not JSON: ${(err as Error).message}`);
  }
  if (record === null || typeof record !== "object" || Array.isArray(record)) throw new InvalidTextRecordError(object, start, "not a JSON object");
  const value = (record as Record<string, unknown>)[field];
  if (typeof value !== "string") throw new InvalidTextRecordError(object, start, `field ${JSON.stringify(field)} is ${value === undefined ? "missing" : `a ${typeof value}, not a string`}`);
  return value;
}

export async function* documentBatches(opts: ReaderOptions, from: ReaderStart): AsyncGenerator<DocumentBatch> {
  let { epoch, position, byteOffset } = from;
  let batch: DocumentBatch = { texts: [], ends: [], bytes: 0 };
  for (;;) {
    let documents = 0;
    const list = rankShards(opts.shards.length, opts.seed, epoch, opts.rank, opts.worldSize, opts.shuffle);
    for (; position < list.length; position++, byteOffset = 0) {
      const shard = opts.shards[list[position] ?? -1];
      if (shard === undefined) throw new RangeError(`no file at position ${position}`);
      const object = `${opts.store.uri.replace(/\/?$/, "/")}${shard.path}`;
      const splitter = new RecordSplitter(opts.format === "jsonl" ? "line" : "whole", byteOffset, opts.maxDocumentBytes, (start, n) => new InvalidTextRecordError(object, start, `a document of over ${n} bytes exceeds maxDocumentBytes ${opts.maxDocumentBytes}`));
      const take = function* (records: ReturnType<RecordSplitter["push"]>): Generator<DocumentBatch> {
        for (const r of records) {
          if (!keepsDocument(opts.split, opts.seed, shard.path, r.start)) continue;
          const text = parseTextRecord(object, r.start, r.bytes, opts.format, opts.textField);
          if (text === undefined || text === "") continue;
          documents++;
          batch.texts.push(text);
          batch.ends.push({ shard: shard.path, epoch, end: r.end });
          batch.bytes += r.bytes.length;
          if (batch.bytes >= opts.batchBytes) {
            yield batch;
            batch = { texts: [], ends: [], bytes: 0 };
          }
        }
      };
      for await (const chunk of contentChunks(opts.store, shard.path, shard.bytes, shard.gzip, byteOffset, opts)) yield* take(splitter.push(chunk));
      yield* take(splitter.finish());
      // A file's last documents go out with it, so a batch never waits on the next file's first read.
      if (batch.texts.length > 0) {
        yield batch;
        batch = { texts: [], ends: [], bytes: 0 };
      }
    }
    // A rank whose files hold no document (empty, or all held out) would otherwise spin through epochs forever.
    if (documents === 0 && from.byteOffset === 0) throw new InvalidTextRecordError(opts.store.uri, 0, `rank ${opts.rank}'s files of epoch ${epoch} hold no document for this split`);
    epoch++;
    position = 0;
    byteOffset = 0;
  }
}
