// Where checkpoints are stored: the dataloader's ObjectStore (file:// and s3://) for reads and listings, plus what
// checkpoints need on top of it: atomic local writes and deletes.
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, rmdir, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Client } from "minio";
import { FileStore, S3Store, parseSourceUri, type ObjectInfo } from "@gantry/dataloader";

export interface CheckpointStore {
  /** The checkpoint root as a URI, for messages. */
  readonly uri: string;
  /** Replaces `key` as a whole: readers see the old bytes or the new ones, never a torn file. */
  write(key: string, bytes: Uint8Array): Promise<void>;
  /** The whole of `key`, or undefined when it does not exist. */
  read(key: string): Promise<Uint8Array | undefined>;
  /** Every object under the root (keys relative to it). */
  list(): AsyncIterable<ObjectInfo>;
  /** Deletes these keys (in one batch where the store can: call twice for an order); missing ones are fine. */
  remove(keys: readonly string[]): Promise<void>;
}

/** A local folder. Writes go to a temporary name and are renamed into place, so a crash leaves no torn file. */
export class FileCheckpointStore implements CheckpointStore {
  private readonly files: FileStore;
  readonly uri: string;

  constructor(readonly root: string) {
    this.files = new FileStore(root);
    this.uri = this.files.uri;
  }

  private path(key: string): string {
    return join(this.root, ...key.split("/"));
  }

  async write(key: string, bytes: Uint8Array): Promise<void> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      await writeFile(temp, bytes);
      await rename(temp, path);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  read(key: string): Promise<Uint8Array | undefined> {
    return this.files.readIfExists(key);
  }

  async *list(): AsyncIterable<ObjectInfo> {
    try {
      for await (const o of this.files.list()) yield o;
    } catch (err) {
      if ((err as { code?: unknown }).code !== "ENOENT") throw err;
    }
  }

  async remove(keys: readonly string[]): Promise<void> {
    const dirs = new Set<string>();
    for (const key of keys) {
      await unlink(this.path(key)).catch((err: unknown) => {
        if ((err as { code?: unknown }).code !== "ENOENT") throw err;
      });
      dirs.add(dirname(this.path(key)));
    }
    // Emptied step directories go too; a directory that still holds something stays.
    for (const dir of dirs) if (dir !== this.root) await rmdir(dir).catch(() => undefined);
  }
}

export type CheckpointS3Client = Pick<Client, "getPartialObject" | "putObject" | "listObjectsV2" | "removeObjects">;

/** An S3 prefix. A single PUT is atomic, and minio's putObject switches to a multipart upload for large objects. */
export class S3CheckpointStore implements CheckpointStore {
  private readonly objects: S3Store;
  readonly uri: string;

  constructor(
    private readonly client: CheckpointS3Client,
    readonly bucket: string,
    /** Empty, or ending with "/". */
    readonly prefix: string,
  ) {
    this.objects = new S3Store(client, bucket, prefix);
    this.uri = this.objects.uri;
  }

  write(key: string, bytes: Uint8Array): Promise<void> {
    return this.objects.write(key, bytes);
  }

  read(key: string): Promise<Uint8Array | undefined> {
    return this.objects.readIfExists(key);
  }

  list(): AsyncIterable<ObjectInfo> {
    return this.objects.list();
  }

  async remove(keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.client.removeObjects(this.bucket, keys.map((k) => this.prefix + k));
  }
}

/** The store a checkpoint URI (file:///path or s3://bucket/prefix) names. */
export function openCheckpointStore(uri: string, s3?: CheckpointS3Client): CheckpointStore {
  const source = parseSourceUri(uri);
  if (source.kind === "file") return new FileCheckpointStore(source.path);
  if (s3 === undefined) throw new Error(`${uri} is on S3, but no S3 client was given`);
  return new S3CheckpointStore(s3, source.bucket, source.prefix);
}
