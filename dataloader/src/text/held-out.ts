// The validation split of a raw-text stream: a document is held out by a hash of (seed, shard, its byte offset), so
// the split is the same on every rank, every attempt and any world size, and needs no index of the corpus.
import { hashWords } from "../order/counter-hash.js";

const SPLIT_DOMAIN = 0x5350_4c54;

export interface SplitSpec {
  /** Fraction of documents held out for validation, in [0, 1). */
  heldOutFraction: number;
  /** "train" reads the other documents, "validation" only the held-out ones. */
  role: "train" | "validation";
}

/** 32-bit FNV-1a of a string, to key the hash by shard path. */
export function stringHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function isHeldOut(seed: number, shard: string, recordStart: number, fraction: number): boolean {
  if (fraction <= 0) return false;
  const h = hashWords(SPLIT_DOMAIN, seed, stringHash(shard), recordStart % 2 ** 32, Math.floor(recordStart / 2 ** 32));
  return h / 2 ** 32 < fraction;
}

/** Whether a reader in `split`'s role keeps the document. */
export function keepsDocument(split: SplitSpec | undefined, seed: number, shard: string, recordStart: number): boolean {
  if (split === undefined) return true;
  return isHeldOut(seed, shard, recordStart, split.heldOutFraction) === (split.role === "validation");
}
