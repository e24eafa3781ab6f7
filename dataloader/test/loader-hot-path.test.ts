// The loader's fast paths give the same bytes as the simple ones: packing from the whole .bin, hashing on worker
// threads, and a job's last step bounding what is prefetched.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  ChecksumMismatchError,
  DatasetWriter,
  FileStore,
  IndexedDataset,
  IndexedShardBuilder,
  ShardStreamLayout,
  TokenDataLoader,
  ownsBuffer,
  sha256Hex,
  sha256HexAsync,
  tokenView,
  verifiedBytes,
  type LoaderConfig,
} from "@gantry/dataloader";

const EOS = 50256;
const root = mkdtempSync(join(tmpdir(), "dl-hot-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("packing from the whole .bin", () => {
  it("gives the same tokens and document starts as packing sequence by sequence", () => {
    const corpus = fc.array(fc.array(fc.array(fc.integer({ min: 0, max: 60_000 }), { maxLength: 20 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 15 });
    fc.assert(
      fc.property(corpus, fc.integer({ min: 1, max: 24 }), (docs, L) => {
        const b = new IndexedShardBuilder("uint16");
        for (const d of docs) b.addDocument(d);
        const shard = b.finish();
        const ds = IndexedDataset.open("s", shard.idx, shard.bin);
        const layout = new ShardStreamLayout(ds.table);
        const tokens = tokenView("uint16", shard.bin, 0, shard.bin.length / 2);
        const starts = Float64Array.from(ds.table.pointers, (p) => Number(p) / 2);
        for (let k = 0; k < layout.samples(L); k++) {
          const slow = layout.sample(k, L, EOS, (i) => ds.sequence(i));
          const fast = layout.sampleFrom(k, L, EOS, tokens, starts, new Int32Array(L + 1));
          expect(Array.from(fast.tokens)).toEqual(Array.from(slow.tokens));
          expect(fast.documentStarts).toEqual(slow.documentStarts);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe("sha256 on worker threads", () => {
  const big = () => Uint8Array.from({ length: 3 << 20 }, (_, i) => (i * 2654435761) >>> 24);

  it("hashes like the inline hash and leaves the caller's bytes intact", async () => {
    const bytes = big();
    const expected = sha256Hex(bytes);
    expect(await sha256HexAsync(bytes)).toBe(expected);
    expect(bytes.length).toBe(3 << 20);
    expect(sha256Hex(bytes)).toBe(expected);
  });

  it("verifies without a copy: the buffer goes to the worker and comes back with the same bytes", async () => {
    const bytes = big();
    const expected = sha256Hex(bytes);
    const copy = bytes.slice();
    expect(ownsBuffer(copy)).toBe(true);
    const back = await verifiedBytes("shard-00000", "shard-00000.bin", copy, expected);
    expect(copy.length).toBe(0); // moved, detached here
    expect(Buffer.from(back).equals(Buffer.from(bytes))).toBe(true);
  });

  it("names the shard and file when the bytes differ, and copies a view that does not own its buffer", async () => {
    const bytes = big();
    const view = bytes.subarray(1);
    expect(ownsBuffer(view)).toBe(false);
    const err = await verifiedBytes("shard-00007", "shard-00007.bin", view, sha256Hex(bytes)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    expect((err as Error).message).toContain("shard-00007");
    expect((err as Error).message).toContain("shard-00007.bin");
    expect(view.length).toBe((3 << 20) - 1); // not detached
  });
});

describe("lastStep", () => {
  /** Counts the .bin reads of a file store. */
  class CountingStore extends FileStore {
    readonly reads: string[] = [];
    override readAll(key: string, bytes: number): Promise<Uint8Array> {
      if (key.endsWith(".bin")) this.reads.push(key);
      return super.readAll(key, bytes);
    }
  }

  it("downloads no shard past the job's last step, and feeds the same batches", async () => {
    const dir = join(root, "last-step");
    const writer = new DatasetWriter(new FileStore(dir), { tokenizer: "gpt2", dtype: "uint16", eosToken: EOS, shardBytes: 200 });
    for (let d = 0; d < 120; d++) await writer.add(Array.from({ length: 20 + (d % 7) }, (_, t) => d * 31 + t));
    const manifest = await writer.finish();
    const config: LoaderConfig = { jobUid: "job", attempt: 0, contextLength: 8, globalBatch: 4, rank: 0, worldSize: 1, seed: 5, shuffle: true, windowShards: 2, cacheBytes: 1 << 20, prefetchSteps: 2 };
    const plainStore = new CountingStore(dir);
    const plain = new TokenDataLoader(plainStore, manifest, config);
    const steps = 3; // well inside the first window
    const bounded = new CountingStore(dir);
    const loader = new TokenDataLoader(bounded, manifest, { ...config, lastStep: steps - 1 });
    const needed = new Set<number>();
    for (let s = 0; s < steps; s++) {
      const a = await loader.batch(s);
      const b = await plain.batch(s);
      expect(a.samples.map((x) => Array.from(x.tokens))).toEqual(b.samples.map((x) => Array.from(x.tokens)));
      for (const l of a.locations) needed.add(l.shard);
    }
    // Only the window of those steps is fetched (reads start synchronously in batch); without lastStep the two windows after it are prefetched too.
    const window = loader.order.epoch(0).windowShardsOf(loader.plan(0)[0]?.global ?? 0);
    for (const s of needed) expect(window).toContain(s);
    expect(new Set(bounded.reads)).toEqual(new Set(window.map((s) => manifest.shards[s]?.bin.path)));
    expect(new Set(plainStore.reads).size).toBeGreaterThan(window.length);
  });
});
