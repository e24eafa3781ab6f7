// What the loader needs from where shards live: ranged reads, sizes, writes (for prepare), and a listing fallback.

export interface ObjectInfo {
  key: string;
  bytes: number;
}

export interface ObjectStore {
  /** The dataset root as a URI, for messages. */
  readonly uri: string;
  /** Bytes [offset, offset + length) of `key` (relative to the root). */
  readRange(key: string, offset: number, length: number): Promise<Uint8Array>;
  /** The whole of `key`, whose size is `bytes` (from the manifest, so no HEAD request is needed). Like readRange, returns a fresh array the caller owns: the loader moves its buffer to a hashing thread. */
  readAll(key: string, bytes: number): Promise<Uint8Array>;
  /** The whole of `key`, or undefined when it does not exist. */
  readIfExists(key: string): Promise<Uint8Array | undefined>;
  write(key: string, bytes: Uint8Array): Promise<void>;
  /** Deletes `key` if it exists (prepare drops its partial manifest once index.json is written); optional for stores that cannot. */
  remove?(key: string): Promise<void>;
  /** Every object under the root; slow on big buckets, so only a fallback when there is no manifest. */
  list(): AsyncIterable<ObjectInfo>;
}
