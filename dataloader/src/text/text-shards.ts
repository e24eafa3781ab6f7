// The files of a raw-text stream and which of them each rank reads. Raw text has no sample index, so ranks split it by
// whole files: in epoch e the files are permuted by a seeded bijection and rank r takes positions r, r + W, r + 2W, ...
import { canonicalJson } from "../manifest/fingerprint.js";
import { sha256Hex } from "../checksum.js";
import { hashWords } from "../order/counter-hash.js";
import { FeistelPermutation } from "../order/feistel-permutation.js";
import type { ObjectStore } from "../source/object-store.js";
import { PartitionError } from "../errors.js";

export type TextFormat = "jsonl" | "text";

export interface TextShard {
  /** Key relative to the stream's root. */
  path: string;
  /** Size of the object as stored (compressed size for .gz). */
  bytes: number;
  gzip: boolean;
}

const EXTENSIONS: Record<TextFormat, string[]> = { jsonl: [".jsonl", ".jsonl.gz"], text: [".txt", ".txt.gz"] };

export function isTextShard(key: string, format: TextFormat): boolean {
  return EXTENSIONS[format].some((ext) => key.endsWith(ext));
}

/** The stream's files from a listing, sorted by key so every rank sees the same list. */
export async function listTextShards(store: ObjectStore, format: TextFormat): Promise<TextShard[]> {
  const out: TextShard[] = [];
  for await (const o of store.list()) if (isTextShard(o.key, format)) out.push({ path: o.key, bytes: o.bytes, gzip: o.key.endsWith(".gz") });
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const SHARD_DOMAIN = 0x5458_5453;

/** Indices (into `shards`) that `rank` reads in `epoch`, in reading order. Pure. */
export function rankShards(shards: number, seed: number, epoch: number, rank: number, worldSize: number, shuffle: boolean): number[] {
  if (shards < worldSize) throw new PartitionError(`a raw-text stream of ${shards} file(s) cannot feed ${worldSize} ranks: each rank reads whole files, so it needs at least one per rank`);
  const perm = new FeistelPermutation(shards, shuffle ? hashWords(SHARD_DOMAIN, seed, epoch) : 0);
  const out: number[] = [];
  for (let p = rank; p < shards; p += worldSize) out.push(shuffle ? perm.at(p) : p);
  return out;
}

export interface TextStreamIdentity {
  name: string;
  weight: number;
  format: TextFormat;
  textField: string;
  shards: readonly TextShard[];
}

/** Fingerprint of a raw-text mix: its files and sizes, formats, weights, tokenizer and split. A changed corpus is refused at resume. */
export function textFingerprint(streams: readonly TextStreamIdentity[], tokenizer: string, split: unknown): string {
  const body = canonicalJson({
    format: "raw-text",
    version: 1,
    tokenizer,
    split: split ?? null,
    streams: streams.map((s) => ({ name: s.name, weight: s.weight, format: s.format, textField: s.textField, shards: s.shards.map((f) => ({ path: f.path, bytes: f.bytes })) })),
  });
  return `sha256:${sha256Hex(body)}`;
}
