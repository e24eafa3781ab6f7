import { describe, expect, it } from "vitest";
import { FingerprintMismatchError, IndexedShardBuilder, InvalidManifestError, assertSameDataset, canonicalJson, fingerprint, manifestCanonicalJson, parseManifest, sha256Hex, shardEntry, shardName, type Manifest } from "@gantry/dataloader";

function manifest(): Manifest {
  const shards = [0, 1].map((i) => {
    const b = new IndexedShardBuilder("uint16");
    b.addDocument([i, i + 1, i + 2]);
    b.addDocument([[9], [8, 7]]);
    return shardEntry(shardName(i), b.finish());
  });
  return { format: "megatron-indexed", version: 1, tokenizer: "gpt2", dtype: "uint16", eosToken: 50256, shards };
}

describe("manifest", () => {
  it("records sizes, counts and sha256 of each shard file", () => {
    const m = manifest();
    expect(m.shards[0]).toMatchObject({
      name: "shard-00000",
      bin: { path: "shard-00000.bin", bytes: 12 },
      idx: { path: "shard-00000.idx", bytes: 34 + 3 * 12 + 3 * 8 },
      sequences: 3,
      documents: 2,
      tokens: 6,
    });
    expect(m.shards[0]?.bin.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.shards[0]?.bin.sha256).not.toBe(m.shards[1]?.bin.sha256);
  });

  it("parses what it writes, and rejects bad manifests with the location and the field", () => {
    const m = manifest();
    expect(parseManifest("x", JSON.stringify(m))).toEqual(m);
    expect(() => parseManifest("s3://b/p/index.json", "{")).toThrow(/manifest s3:\/\/b\/p\/index.json is invalid: not JSON/);
    const bad = structuredClone(m) as { shards: { bin: { sha256: string } }[] };
    (bad.shards[1] as { bin: { sha256: string } }).bin.sha256 = "XYZ";
    expect(() => parseManifest("m", JSON.stringify(bad))).toThrow(/shards\.1\.bin\.sha256: must be a lowercase hex sha256/);
    const dup = { ...m, shards: [m.shards[0], m.shards[0]] };
    expect(() => parseManifest("m", JSON.stringify(dup))).toThrow(/duplicate shard name shard-00000/);
    const escape = structuredClone(m);
    (escape.shards[0] as { bin: { path: string } }).bin.path = "../etc/passwd";
    expect(() => parseManifest("m", JSON.stringify(escape))).toThrow(InvalidManifestError);
  });

  it("fingerprints the content, not the key order or whitespace", () => {
    const m = manifest();
    const reordered = JSON.parse(JSON.stringify({ shards: m.shards, eosToken: m.eosToken, dtype: m.dtype, tokenizer: m.tokenizer, version: m.version, format: m.format })) as Manifest;
    expect(fingerprint(reordered)).toBe(fingerprint(m));
    expect(fingerprint(parseManifest("m", JSON.stringify(m, null, 4)))).toBe(fingerprint(m));
    expect(fingerprint(m)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] })).toBe('{"a":[2,{"c":4,"d":3}],"b":1}');
    // The fast manifest serializer is the generic canonical form, byte for byte.
    expect(manifestCanonicalJson(m)).toBe(canonicalJson(m));
    expect(fingerprint(m)).toBe(`sha256:${sha256Hex(canonicalJson(m))}`);
    const odd = { ...m, shards: m.shards.map((sh, i) => ({ ...sh, name: `näme "${i}"\\` })) };
    expect(manifestCanonicalJson(odd)).toBe(canonicalJson(odd));
  });

  it("changes the fingerprint on any change to the data, and refuses to resume across it", () => {
    const m = manifest();
    const grown = { ...m, shards: [...m.shards, { ...(m.shards[0] as Manifest["shards"][number]), name: "shard-00002" }] };
    const eos = { ...m, eosToken: 0 };
    expect(new Set([fingerprint(m), fingerprint(grown), fingerprint(eos)]).size).toBe(3);
    expect(() => assertSameDataset(fingerprint(m), fingerprint(grown))).toThrow(FingerprintMismatchError);
    expect(() => assertSameDataset(fingerprint(m), fingerprint(grown))).toThrow(/refusing to resume on a changed dataset/);
    expect(() => assertSameDataset(fingerprint(m), fingerprint(structuredClone(m)))).not.toThrow();
  });
});
