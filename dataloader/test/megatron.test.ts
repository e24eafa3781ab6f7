import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { CorruptShardError, DTYPES, IDX_HEADER_BYTES, IndexedDataset, IndexedShardBuilder, TOKEN_DTYPES, decodeIdx, encodeIdx, type TokenDtype } from "@gantry/dataloader";

const RANGES: Record<TokenDtype, [number, number]> = { uint8: [0, 255], int8: [-128, 127], int16: [-32768, 32767], uint16: [0, 65535], int32: [-(2 ** 31), 2 ** 31 - 1] };

const docsArb = (dtype: TokenDtype) => {
  const [min, max] = RANGES[dtype];
  return fc.array(fc.array(fc.array(fc.integer({ min, max }), { maxLength: 20 }), { minLength: 1, maxLength: 3 }), { maxLength: 15 });
};

function build(dtype: TokenDtype, docs: number[][][]) {
  const b = new IndexedShardBuilder(dtype);
  for (const d of docs) b.addDocument(d);
  return b.finish();
}

describe("Megatron indexed dataset", () => {
  it("writes the MMIDIDX header byte for byte", () => {
    const shard = build("uint16", [[[1, 2, 3]], [[4], [5, 6]]]);
    const h = Buffer.from(shard.idx);
    expect(h.subarray(0, 9).toString("latin1")).toBe("MMIDIDX\x00\x00");
    expect(h.readBigUInt64LE(9)).toBe(1n);
    expect(h.readUInt8(17)).toBe(8);
    expect(h.readBigUInt64LE(18)).toBe(3n); // sequences
    expect(h.readBigUInt64LE(26)).toBe(3n); // doc_idx entries: 2 documents + 1
    expect([0, 1, 2].map((i) => h.readInt32LE(IDX_HEADER_BYTES + 4 * i))).toEqual([3, 1, 2]);
    expect([0, 1, 2].map((i) => h.readBigInt64LE(IDX_HEADER_BYTES + 12 + 8 * i))).toEqual([0n, 6n, 8n]);
    expect([0, 1, 2].map((i) => h.readBigInt64LE(IDX_HEADER_BYTES + 36 + 8 * i))).toEqual([0n, 1n, 3n]);
    expect(h.length).toBe(IDX_HEADER_BYTES + 3 * 12 + 3 * 8);
    expect(Array.from(Buffer.from(shard.bin))).toEqual([1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0]);
    expect({ sequences: shard.sequences, documents: shard.documents, tokens: shard.tokens }).toEqual({ sequences: 3, documents: 2, tokens: 6 });
  });

  it("round-trips every token dtype bit-exactly", () => {
    for (const dtype of TOKEN_DTYPES) {
      fc.assert(
        fc.property(docsArb(dtype), (docs) => {
          const shard = build(dtype, docs);
          const ds = IndexedDataset.open("s", shard.idx, shard.bin);
          expect(ds.dtype).toBe(dtype);
          expect(ds.documents).toBe(docs.length);
          const seqs = docs.flat();
          expect(ds.sequences).toBe(seqs.length);
          seqs.forEach((seq, i) => expect(Array.from(ds.sequence(i))).toEqual(seq));
          docs.forEach((doc, d) => expect(Array.from(ds.document(d))).toEqual(doc.flat()));
          ds.assertContiguous();
          expect(Buffer.from(encodeIdx(ds.table)).equals(Buffer.from(shard.idx))).toBe(true);
        }),
        { numRuns: 40 },
      );
    }
  });

  it("reads a sequence by its pointer alone, without touching the rest of the .bin", () => {
    const shard = build("int32", [[[7, 8]], [[9, 10, 11]]]);
    // Poison every byte outside sequence 1: O(1) access must not depend on them.
    const bin = new Uint8Array(shard.bin.length).fill(0xff);
    bin.set(shard.bin.subarray(8, 20), 8);
    expect(Array.from(IndexedDataset.open("s", shard.idx, bin).sequence(1))).toEqual([9, 10, 11]);
  });

  it("rejects ids the dtype cannot hold", () => {
    expect(() => build("uint16", [[[70_000]]])).toThrow(/does not fit uint16/);
  });

  describe("names the shard when the .idx is corrupt", () => {
    const good = build("uint16", [[[1, 2, 3]], [[4, 5]]]);
    const cases: [string, (b: Uint8Array) => Uint8Array, RegExp][] = [
      ["empty", () => new Uint8Array(0), /shorter than the 34-byte header/],
      ["bad magic", (b) => Object.assign(b.slice(), { 0: 0x4e }), /MMIDIDX magic/],
      ["version 2", (b) => Object.assign(b.slice(), { 9: 2 }), /version 2/],
      ["unknown dtype", (b) => Object.assign(b.slice(), { 17: 9 }), /unknown dtype code 9/],
      ["float dtype", (b) => Object.assign(b.slice(), { 17: 7 }), /float32, which cannot hold token ids/],
      ["truncated", (b) => b.slice(0, b.length - 3), /truncated or corrupt/],
      ["extra bytes", (b) => Uint8Array.from([...b, 0]), /truncated or corrupt/],
      ["size past the .bin", (b) => Object.assign(b.slice(), { [IDX_HEADER_BYTES]: 200 }), /past the end of the 10-byte .bin/],
      ["unaligned pointer", (b) => Object.assign(b.slice(), { [IDX_HEADER_BYTES + 16]: 3 }), /not a non-negative multiple of 2/],
      ["doc_idx out of order", (b) => Object.assign(b.slice(), { [IDX_HEADER_BYTES + 24 + 8]: 9 }), /doc_idx\[1\] = 9/],
    ];
    for (const [name, corrupt, message] of cases) {
      it(name, () => {
        const err = (() => {
          try {
            decodeIdx("shard-00042", corrupt(good.idx), good.bin.length);
          } catch (e) {
            return e;
          }
          return undefined;
        })();
        expect(err).toBeInstanceOf(CorruptShardError);
        expect((err as CorruptShardError).shard).toBe("shard-00042");
        expect((err as Error).message).toMatch(/^shard shard-00042 is corrupt: \.idx /);
        expect((err as Error).message).toMatch(message);
      });
    }
  });

  describe("agrees with an independent Python writer and reader (struct, as Megatron-LM lays it out)", () => {
    const dir = mkdtempSync(join(tmpdir(), "dl-megatron-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const script = join(import.meta.dirname, "fixtures", "megatron_idx.py");
    const python = (args: string[], input?: string) => {
      const r = spawnSync("python3", [script, ...args], { input, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`python3 ${args.join(" ")} failed: ${r.stderr}`);
      return r.stdout;
    };
    const docs = [[[1, 2, 3], [4]], [[50_000, 65_535]], [[0]], [[9, 8, 7, 6, 5]]];

    it("reads what Python wrote", () => {
      for (const dtype of ["uint16", "int32", "uint8"] as const) {
        const prefix = join(dir, `py-${dtype}`);
        const mine = dtype === "uint8" ? docs.map((d) => d.map((s) => s.map((t) => t % 256))) : docs;
        python(["write", prefix, String(DTYPES[dtype].code)], JSON.stringify(mine));
        const ds = IndexedDataset.open("py", new Uint8Array(readFileSync(`${prefix}.idx`)), new Uint8Array(readFileSync(`${prefix}.bin`)));
        expect(ds.dtype).toBe(dtype);
        expect(mine.map((_, d) => Array.from(ds.document(d)))).toEqual(mine.map((d) => d.flat()));
        // Same bytes as ours for the same documents.
        const ours = build(dtype, mine);
        expect(Buffer.from(readFileSync(`${prefix}.idx`)).equals(Buffer.from(ours.idx))).toBe(true);
        expect(Buffer.from(readFileSync(`${prefix}.bin`)).equals(Buffer.from(ours.bin))).toBe(true);
      }
    });

    it("Python reads what we wrote", () => {
      const prefix = join(dir, "ts");
      const shard = build("uint16", docs);
      writeFileSync(`${prefix}.idx`, shard.idx);
      writeFileSync(`${prefix}.bin`, shard.bin);
      expect(JSON.parse(python(["read", prefix]))).toEqual({ dtype: 8, docs });
    });
  });
});
