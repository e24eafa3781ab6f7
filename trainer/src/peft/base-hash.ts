// A content hash of a model's weights: sha256 over each tensor's name, shape and float32 bytes, in the order given
// (paramLayout's). A PEFT checkpoint records it, so a resume or a merge on another base is refused, not silently wrong.
import { createHash } from "node:crypto";
import type { NamedArray } from "../checkpoint/named-array.js";

export function weightsHash(arrays: readonly NamedArray[]): string {
  const h = createHash("sha256");
  for (const a of arrays) {
    h.update(`${a.name}\0${a.shape.join(",")}\0`);
    h.update(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength));
  }
  return h.digest("hex");
}
