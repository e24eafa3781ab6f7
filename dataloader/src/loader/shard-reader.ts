// Fetches one shard (.idx + .bin) from a store, verifies both against the manifest, and opens it for packing.
import { verifiedBytes } from "../checksum.js";
import { CorruptShardError } from "../errors.js";
import type { ShardEntry } from "../manifest/manifest-schema.js";
import { DTYPES, tokenView, type TokenArray } from "../megatron/dtype.js";
import { IndexedDataset } from "../megatron/indexed-dataset.js";
import { ShardStreamLayout, type PackedSample } from "../order/packing.js";
import type { ObjectStore } from "../source/object-store.js";

export interface LoadedShard {
  name: string;
  dataset: IndexedDataset;
  layout: ShardStreamLayout;
  bytes: number;
  sample(k: number, contextLength: number, eos: number, into?: Int32Array): PackedSample;
}

export async function loadShard(store: ObjectStore, entry: ShardEntry): Promise<LoadedShard> {
  // Each file is hashed as soon as it has arrived, on a worker thread, while the other may still be downloading.
  const [idx, bin] = await Promise.all([
    store.readAll(entry.idx.path, entry.idx.bytes).then((b) => verifiedBytes(entry.name, entry.idx.path, b, entry.idx.sha256)),
    store.readAll(entry.bin.path, entry.bin.bytes).then((b) => verifiedBytes(entry.name, entry.bin.path, b, entry.bin.sha256)),
  ]);
  const dataset = IndexedDataset.open(entry.name, idx, bin);
  if (dataset.sequences !== entry.sequences || dataset.documents !== entry.documents || dataset.tokens !== entry.tokens) {
    throw new CorruptShardError(
      entry.name,
      `.idx has ${dataset.sequences} sequences, ${dataset.documents} documents, ${dataset.tokens} tokens; the manifest says ${entry.sequences}, ${entry.documents}, ${entry.tokens}`,
    );
  }
  const layout = new ShardStreamLayout(dataset.table);
  const direct = tokenIndex(dataset, bin);
  return {
    name: entry.name,
    dataset,
    layout,
    bytes: idx.length + bin.length,
    sample:
      direct === undefined
        ? (k, contextLength, eos, into) => layout.sample(k, contextLength, eos, (i) => dataset.sequence(i), into)
        : (k, contextLength, eos, into) => layout.sampleFrom(k, contextLength, eos, direct.tokens, direct.starts, into),
  };
}

/**
 * The whole .bin as one token array and each sequence's first token in it, decoded from the BigInt pointers once per
 * shard rather than once per sample piece. Undefined for a .bin that is not token-aligned (then each piece is viewed
 * on its own, as before).
 */
function tokenIndex(dataset: IndexedDataset, bin: Uint8Array): { tokens: TokenArray; starts: Float64Array } | undefined {
  const width = DTYPES[dataset.dtype].bytes;
  if (bin.byteOffset % width !== 0 || bin.length % width !== 0) return undefined;
  const pointers = dataset.table.pointers;
  const starts = new Float64Array(pointers.length);
  for (let i = 0; i < pointers.length; i++) {
    const byte = Number(pointers[i] ?? 0n);
    if (byte % width !== 0) return undefined;
    starts[i] = byte / width;
  }
  return { tokens: tokenView(dataset.dtype, bin, 0, bin.length / width), starts };
}
