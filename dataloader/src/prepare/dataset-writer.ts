// Writes tokenized documents as Megatron shards plus index.json to a store, cutting a shard at a target size.
// The manifest goes last, so a dataset without index.json is simply not there yet.
import type { TokenizerName } from "@gantry/crds";
import { shardEntry, shardName } from "../manifest/build-manifest.js";
import type { Manifest, ShardEntry } from "../manifest/manifest-schema.js";
import { writeManifest } from "../manifest/read-manifest.js";
import type { TokenDtype } from "../megatron/dtype.js";
import { IndexedShardBuilder } from "../megatron/indexed-builder.js";
import type { ObjectStore } from "../source/object-store.js";

export interface DatasetWriterOptions<Mark = never> {
  tokenizer: TokenizerName;
  dtype: TokenDtype;
  eosToken: number;
  /** Cut a shard once its .bin reaches this many bytes (Streaming recommends 50-100 MB). */
  shardBytes: number;
  /** Shards already written by an interrupted run: kept as they are, and numbering continues after them. */
  keep?: readonly ShardEntry[];
  /**
   * Called, one call at a time and in order, each time more shards are wholly uploaded: the shards written so far
   * and the mark given with the last document of the last of them (for a partial manifest).
   */
  onWritten?: (shards: readonly ShardEntry[], mark: Mark) => Promise<void>;
}

export const DEFAULT_SHARD_BYTES = 64 * 1024 * 1024;

/** Uploads that overlap with building the next shard; more would only hold more shards in memory. */
const UPLOADS_IN_FLIGHT = 4;

export class DatasetWriter<Mark = never> {
  private builder: IndexedShardBuilder;
  private readonly shards: ShardEntry[];
  private readonly marks: (Mark | undefined)[] = [];
  private readonly uploaded: boolean[];
  private committed: number;
  private pending: Promise<void>[] = [];
  private progress: Promise<void> = Promise.resolve();
  private failure: { err: unknown } | undefined;
  private lastMark: Mark | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly options: DatasetWriterOptions<Mark>,
  ) {
    this.builder = new IndexedShardBuilder(options.dtype);
    this.shards = [...(options.keep ?? [])];
    this.uploaded = this.shards.map(() => true);
    this.committed = this.shards.length;
  }

  /** Adds a document; `mark` says where the input stands after it (what a rerun would resume from). */
  async add(doc: ArrayLike<number>, mark?: Mark): Promise<void> {
    this.rethrow();
    this.builder.addDocument(doc);
    this.lastMark = mark;
    if (this.builder.bytes >= this.options.shardBytes) await this.cut();
  }

  /** Flushes the last shard and writes index.json; returns the manifest. */
  async finish(): Promise<Manifest> {
    if (this.builder.documents > 0) await this.cut();
    await Promise.all(this.pending);
    this.rethrow();
    await this.progress;
    const manifest: Manifest = { format: "megatron-indexed", version: 1, tokenizer: this.options.tokenizer, dtype: this.options.dtype, eosToken: this.options.eosToken, shards: this.shards };
    await writeManifest(this.store, manifest);
    return manifest;
  }

  /** Waits for uploads and progress writes in flight, whatever their outcome: after a failure, before giving up. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.pending);
    await this.progress;
  }

  private rethrow(): void {
    if (this.failure !== undefined) throw this.failure.err;
  }

  private async cut(): Promise<void> {
    const built = this.builder.finish();
    this.builder = new IndexedShardBuilder(this.options.dtype);
    const index = this.shards.length;
    const entry = shardEntry(shardName(index), built);
    this.shards.push(entry);
    this.marks[index] = this.lastMark;
    this.uploaded[index] = false;
    const upload = Promise.all([this.store.write(entry.bin.path, built.bin), this.store.write(entry.idx.path, built.idx)]).then(
      () => this.onUploaded(index),
      // Kept, not thrown here: nobody awaits this promise yet, and the next add or finish reports it.
      (err: unknown) => {
        this.failure ??= { err };
      },
    );
    this.pending.push(upload);
    if (this.pending.length >= UPLOADS_IN_FLIGHT) {
      await Promise.all(this.pending);
      this.pending = [];
      this.rethrow();
    }
  }

  /** Uploads finish out of order; progress is only ever the prefix of shards that are all there. */
  private onUploaded(index: number): void {
    this.uploaded[index] = true;
    const before = this.committed;
    while (this.committed < this.shards.length && this.uploaded[this.committed] === true) this.committed++;
    const onWritten = this.options.onWritten;
    if (this.committed === before || onWritten === undefined) return;
    const shards = this.shards.slice(0, this.committed);
    const mark = this.marks[this.committed - 1] as Mark;
    this.progress = this.progress.then(() => onWritten(shards, mark)).catch((err: unknown) => {
      this.failure ??= { err };
    });
  }
}
