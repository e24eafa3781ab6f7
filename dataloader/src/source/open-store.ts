// Opens the store a source URI names.
import type { Client } from "minio";
import { FileStore } from "./file-store.js";
import type { ObjectStore } from "./object-store.js";
import { S3Store, type S3StoreOptions } from "./s3-store.js";
import { parseSourceUri } from "./source-uri.js";

export function openStore(uri: string, s3?: { client: Pick<Client, "getPartialObject" | "putObject" | "listObjectsV2">; options?: S3StoreOptions }): ObjectStore {
  const source = parseSourceUri(uri);
  if (source.kind === "file") return new FileStore(source.path);
  if (s3 === undefined) throw new Error(`${uri} is on S3, but no S3 client was given`);
  return new S3Store(s3.client, source.bucket, source.prefix, s3.options ?? {});
}
