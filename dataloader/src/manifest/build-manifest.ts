// Assembles a manifest entry from a built shard: the checksums and counts a reader verifies against.
import { sha256Hex } from "../checksum.js";
import type { BuiltShard } from "../megatron/indexed-builder.js";
import type { ShardEntry } from "./manifest-schema.js";

export function shardEntry(name: string, shard: BuiltShard): ShardEntry {
  return {
    name,
    bin: { path: `${name}.bin`, bytes: shard.bin.length, sha256: sha256Hex(shard.bin) },
    idx: { path: `${name}.idx`, bytes: shard.idx.length, sha256: sha256Hex(shard.idx) },
    sequences: shard.sequences,
    documents: shard.documents,
    tokens: shard.tokens,
  };
}

/** Shard names that sort in write order: shard-00000, shard-00001, ... */
export function shardName(index: number): string {
  return `shard-${String(index).padStart(5, "0")}`;
}
