// SHA-256 of shard files and manifests, as lowercase hex.
import { createHash, webcrypto } from "node:crypto";
import { ChecksumMismatchError } from "./errors.js";

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Hashes on libuv's thread pool (WebCrypto digest is async), so verifying a shard never blocks the event loop. */
export async function sha256HexAsync(bytes: Uint8Array): Promise<string> {
  return Buffer.from(await webcrypto.subtle.digest("SHA-256", bytes)).toString("hex");
}

export async function verifySha256(shard: string, file: string, bytes: Uint8Array, expected: string): Promise<void> {
  const actual = await sha256HexAsync(bytes);
  if (actual !== expected) throw new ChecksumMismatchError(shard, file, expected, actual);
}
