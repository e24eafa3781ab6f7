// Fetches one shard (.idx + .bin) from a store, verifies both against the manifest, and opens it for packing.
import { verifySha256 } from "../checksum.js";
import { CorruptShardError } from "../errors.js";
import type { ShardEntry } from "../manifest/manifest-schema.js";
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
  const [idx, bin] = await Promise.all([store.readAll(entry.idx.path, entry.idx.bytes), store.readAll(entry.bin.path, entry.bin.bytes)]);
  await Promise.all([verifySha256(entry.name, entry.idx.path, idx, entry.idx.sha256), verifySha256(entry.name, entry.bin.path, bin, entry.bin.sha256)]);
  const dataset = IndexedDataset.open(entry.name, idx, bin);
  if (dataset.sequences !== entry.sequences || dataset.documents !== entry.documents || dataset.tokens !== entry.tokens) {
    throw new CorruptShardError(
      entry.name,
      `.idx has ${dataset.sequences} sequences, ${dataset.documents} documents, ${dataset.tokens} tokens; the manifest says ${entry.sequences}, ${entry.documents}, ${entry.tokens}`,
    );
  }
  const layout = new ShardStreamLayout(dataset.table);
  return {
    name: entry.name,
    dataset,
    layout,
    bytes: idx.length + bin.length,
    sample: (k, contextLength, eos, into) => layout.sample(k, contextLength, eos, (i) => dataset.sequence(i), into),
  };
}
