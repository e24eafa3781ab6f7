// Streams an object as chunks from a byte offset: sequential ranged GETs of `chunkBytes`, `readAhead` of them in
// flight, so the network runs ahead of the consumer by a bounded amount. A gzip object is read from its start and
// decompressed; its offsets are uncompressed bytes and the bytes before `from` are decoded and dropped (gzip has no
// random access), so a mid-shard resume of a .gz file costs up to one shard's decompression, never more.
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import type { ObjectStore } from "./object-store.js";

export interface ChunkOptions {
  chunkBytes: number;
  readAhead: number;
  /** Called with each chunk's stored (compressed) size as it arrives, for the bytes/s metric. */
  onBytes?: (n: number) => void;
}

/** Raw stored bytes [from, size) in order. */
export async function* storedChunks(store: ObjectStore, key: string, size: number, from: number, opts: ChunkOptions): AsyncGenerator<Uint8Array> {
  const inFlight: Promise<Uint8Array>[] = [];
  let next = from;
  const fill = () => {
    while (inFlight.length < Math.max(1, opts.readAhead) && next < size) {
      const length = Math.min(opts.chunkBytes, size - next);
      const p = store.readRange(key, next, length);
      // The consumer may stop early; a read it never awaits must not surface as an unhandled rejection.
      p.catch(() => undefined);
      inFlight.push(p);
      next += length;
    }
  };
  fill();
  while (inFlight.length > 0) {
    const chunk = await (inFlight.shift() as Promise<Uint8Array>);
    opts.onBytes?.(chunk.length);
    fill();
    yield chunk;
  }
}

/** Content bytes (decompressed for gzip) from content offset `from` to the end. */
export async function* contentChunks(store: ObjectStore, key: string, size: number, gzip: boolean, from: number, opts: ChunkOptions): AsyncGenerator<Uint8Array> {
  if (!gzip) {
    yield* storedChunks(store, key, size, from, opts);
    return;
  }
  const gunzip = Readable.from(storedChunks(store, key, size, 0, opts)).pipe(createGunzip());
  let at = 0;
  for await (const raw of gunzip) {
    const chunk = raw as Buffer;
    const skip = Math.max(0, Math.min(chunk.length, from - at));
    at += chunk.length;
    if (skip < chunk.length) yield new Uint8Array(chunk.buffer, chunk.byteOffset + skip, chunk.length - skip);
  }
}
