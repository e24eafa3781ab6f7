// Writes tokenized documents as Megatron shards plus index.json to a store, cutting a shard at a target size.
// The manifest goes last, so a dataset without index.json is simply not there yet.
import type { TokenizerName } from "@gantry/crds";
import { shardEntry, shardName } from "../manifest/build-manifest.js";
import type { Manifest, ShardEntry } from "../manifest/manifest-schema.js";
import { writeManifest } from "../manifest/read-manifest.js";
import type { TokenDtype } from "../megatron/dtype.js";
import { IndexedShardBuilder } from "../megatron/indexed-builder.js";
import type { ObjectStore } from "../source/object-store.js";

export interface DatasetWriterOptions {
  tokenizer: TokenizerName;
  dtype: TokenDtype;
  eosToken: number;
  /** Cut a shard once its .bin reaches this many bytes (Streaming recommends 50-100 MB). */
  shardBytes: number;
}

export const DEFAULT_SHARD_BYTES = 64 * 1024 * 1024;

export class DatasetWriter {
  private builder: IndexedShardBuilder;
  private readonly shards: ShardEntry[] = [];
  private pending: Promise<void>[] = [];

  constructor(
    private readonly store: ObjectStore,
    private readonly options: DatasetWriterOptions,
  ) {
    this.builder = new IndexedShardBuilder(options.dtype);
  }

  async add(doc: ArrayLike<number>): Promise<void> {
    this.builder.addDocument(doc);
    if (this.builder.bytes >= this.options.shardBytes) await this.cut();
  }

  /** Flushes the last shard and writes index.json; returns the manifest. */
  async finish(): Promise<Manifest> {
    if (this.builder.documents > 0) await this.cut();
    await Promise.all(this.pending);
    const manifest: Manifest = { format: "megatron-indexed", version: 1, tokenizer: this.options.tokenizer, dtype: this.options.dtype, eosToken: this.options.eosToken, shards: this.shards };
    await writeManifest(this.store, manifest);
    return manifest;
  }

  private async cut(): Promise<void> {
    const built = this.builder.finish();
    this.builder = new IndexedShardBuilder(this.options.dtype);
    const entry = shardEntry(shardName(this.shards.length), built);
    this.shards.push(entry);
    // Up to a few uploads overlap with building the next shard; more would only hold more shards in memory.
    this.pending.push(Promise.all([this.store.write(entry.bin.path, built.bin), this.store.write(entry.idx.path, built.idx)]).then(() => undefined));
    if (this.pending.length >= 4) {
      await Promise.all(this.pending);
      this.pending = [];
    }
  }
}
