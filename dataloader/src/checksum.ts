// SHA-256 of shard files and manifests, as lowercase hex.
import { createHash } from "node:crypto";
import { ChecksumMismatchError } from "./errors.js";
import { ownsBuffer, sha256Workers } from "./sha256-worker-pool.js";

/** Below this, hashing inline costs less than a round trip to a worker thread. */
const WORKER_MIN_BYTES = 1 << 20;

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Hashes on a worker thread, so hashing a shard never blocks the event loop; `bytes` stays usable (large inputs are
 * copied to the worker, which costs a tenth of hashing them). Small inputs are hashed inline.
 */
export async function sha256HexAsync(bytes: Uint8Array): Promise<string> {
  if (bytes.byteLength < WORKER_MIN_BYTES) return sha256Hex(bytes);
  return (await sha256Workers.hash(bytes.slice())).hex;
}

export async function verifySha256(shard: string, file: string, bytes: Uint8Array, expected: string): Promise<void> {
  const actual = await sha256HexAsync(bytes);
  if (actual !== expected) throw new ChecksumMismatchError(shard, file, expected, actual);
}

/**
 * Verifies `bytes` against `expected` on a worker thread without copying them, and returns them: when `bytes` owns
 * its buffer it is moved to the worker and back, so the caller must use the returned array, not `bytes`.
 */
export async function verifiedBytes(shard: string, file: string, bytes: Uint8Array, expected: string): Promise<Uint8Array> {
  const { hex, bytes: back } = bytes.byteLength < WORKER_MIN_BYTES ? { hex: sha256Hex(bytes), bytes } : await sha256Workers.hash(ownsBuffer(bytes) ? bytes : bytes.slice());
  if (hex !== expected) throw new ChecksumMismatchError(shard, file, expected, hex);
  return back;
}
