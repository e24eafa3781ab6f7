// The dataset fingerprint: sha256 of the manifest in canonical JSON, so resume state can prove it was made on the same data.
import { sha256Hex } from "../checksum.js";
import { FingerprintMismatchError } from "../errors.js";
import type { Manifest } from "./manifest-schema.js";

/** JSON with object keys sorted at every level, so equal manifests hash equal whatever their key order or whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

const PLAIN = /^[\w./-]*$/;

/**
 * canonicalJson of a manifest, written out field by field: the schema is strict (no other keys), so this is the same
 * string, about ten times faster on a 100,000-shard manifest (start-up time).
 */
export function manifestCanonicalJson(m: Manifest): string {
  // Names, paths and hashes are almost always plain; only strings that need escaping go through JSON.stringify.
  const q = (v: string | number) => (typeof v === "number" ? String(v) : PLAIN.test(v) ? `"${v}"` : JSON.stringify(v));
  const file = (f: Manifest["shards"][number]["bin"]) => `{"bytes":${q(f.bytes)},"path":${q(f.path)},"sha256":${q(f.sha256)}}`;
  const shards = m.shards.map(
    (s) => `{"bin":${file(s.bin)},"documents":${q(s.documents)},"idx":${file(s.idx)},"name":${q(s.name)},"sequences":${q(s.sequences)},"tokens":${q(s.tokens)}}`,
  );
  return `{"dtype":${q(m.dtype)},"eosToken":${q(m.eosToken)},"format":${q(m.format)},"shards":[${shards.join(",")}],"tokenizer":${q(m.tokenizer)},"version":${q(m.version)}}`;
}

export function fingerprint(manifest: Manifest): string {
  return `sha256:${sha256Hex(manifestCanonicalJson(manifest))}`;
}

export function assertSameDataset(expected: string, actual: string): void {
  if (expected !== actual) throw new FingerprintMismatchError(expected, actual);
}
