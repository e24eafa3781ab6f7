// Shards on S3 (or MinIO, versitygw): parallel ranged GETs with resumable retries.
// Give it a client from createS3Client, whose built-in retries are off: minio's would retry without resuming.
import type { Client } from "minio";
import { ObjectReadError } from "../errors.js";
import type { ObjectInfo, ObjectStore } from "./object-store.js";
import { readRangeParted, type PartedReadOptions, type RetryHooks } from "./resumable-read.js";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry-policy.js";
import { normalizeS3Error } from "./s3-client.js";

export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;
export const DEFAULT_CONCURRENCY = 8;

export interface S3StoreOptions {
  partBytes?: number;
  concurrency?: number;
  policy?: RetryPolicy;
  hooks?: RetryHooks;
}

type S3Client = Pick<Client, "getPartialObject" | "putObject" | "listObjectsV2"> & Partial<Pick<Client, "removeObject">>;

export class S3Store implements ObjectStore {
  readonly uri: string;
  private readonly read: PartedReadOptions;

  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
    /** Empty, or ending with "/". */
    readonly prefix: string,
    options: S3StoreOptions = {},
  ) {
    this.uri = `s3://${bucket}/${prefix}`;
    this.read = {
      partBytes: options.partBytes ?? DEFAULT_PART_BYTES,
      concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
      policy: options.policy ?? DEFAULT_RETRY_POLICY,
      ...(options.hooks === undefined ? {} : { hooks: options.hooks }),
    };
  }

  private objectUri(key: string): string {
    return `s3://${this.bucket}/${this.prefix}${key}`;
  }

  readRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    if (length === 0) return Promise.resolve(new Uint8Array(0));
    const object = this.prefix + key;
    return readRangeParted(this.objectUri(key), (o, l) => this.client.getPartialObject(this.bucket, object, o, l).catch((err: unknown) => Promise.reject(normalizeS3Error(err))), offset, length, this.read);
  }

  readAll(key: string, bytes: number): Promise<Uint8Array> {
    return this.readRange(key, 0, bytes);
  }

  async readIfExists(key: string): Promise<Uint8Array | undefined> {
    try {
      const body = await this.client.getPartialObject(this.bucket, this.prefix + key, 0);
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
      return new Uint8Array(Buffer.concat(chunks));
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === "NoSuchKey" || code === "NotFound") return undefined;
      throw new ObjectReadError(this.objectUri(key), 1, normalizeS3Error(err));
    }
  }

  async write(key: string, bytes: Uint8Array): Promise<void> {
    await this.client.putObject(this.bucket, this.prefix + key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes.length);
  }

  async remove(key: string): Promise<void> {
    // S3 deletes are idempotent: a missing key is not an error.
    await this.client.removeObject?.(this.bucket, this.prefix + key);
  }

  async *list(): AsyncIterable<ObjectInfo> {
    // listObjectsV2 pages with continuation tokens under the hood.
    for await (const item of this.client.listObjectsV2(this.bucket, this.prefix, true)) {
      const { name, size } = item as { name?: string; size?: number };
      if (name !== undefined && size !== undefined) yield { key: name.slice(this.prefix.length), bytes: size };
    }
  }
}
