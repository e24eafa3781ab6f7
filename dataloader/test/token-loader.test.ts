import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { ChecksumMismatchError, CorruptShardError, DatasetWriter, FileStore, FingerprintMismatchError, InvalidManifestError, ShardCache, manifestFromListing, TokenDataLoader, batchRange, readManifest, type LoaderConfig, type ResumeState } from "@gantry/dataloader";

const EOS = 50256;
const root = mkdtempSync(join(tmpdir(), "dl-loader-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

async function dataset(docs: number[][], shardBytes: number) {
  const dir = join(root, String(n++));
  const store = new FileStore(dir);
  const writer = new DatasetWriter(store, { tokenizer: "gpt2", dtype: "uint16", eosToken: EOS, shardBytes });
  for (const d of docs) await writer.add(d);
  return { dir, store, manifest: await writer.finish() };
}

const config = (over: Partial<LoaderConfig> = {}): LoaderConfig => ({
  jobUid: "job-1",
  attempt: 0,
  contextLength: 8,
  globalBatch: 12,
  rank: 0,
  worldSize: 1,
  seed: 3,
  shuffle: true,
  windowShards: 2,
  cacheBytes: 1 << 20,
  prefetchSteps: 2,
  ...over,
});

describe("token data loader", () => {
  it("writes shards and a manifest that reads back", async () => {
    const docs = Array.from({ length: 40 }, (_, i) => Array.from({ length: 5 + (i % 9) }, (_, t) => i * 100 + t));
    const { store, manifest } = await dataset(docs, 100);
    expect(manifest.shards.length).toBeGreaterThan(3);
    expect(manifest.shards.reduce((a, s) => a + s.documents, 0)).toBe(40);
    expect(manifest.shards.reduce((a, s) => a + s.tokens, 0)).toBe(docs.flat().length);
    expect(await readManifest(store)).toEqual(manifest);
  });

  it("feeds each step the same tokens as an uninterrupted run, across preemptions and world-size changes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer({ min: 0, max: 50_000 }), { minLength: 1, maxLength: 30 }), { minLength: 10, maxLength: 60 }),
        fc.array(fc.constantFrom(1, 2, 3, 4, 6), { minLength: 2, maxLength: 4 }),
        fc.integer({ min: 1, max: 5 }),
        async (docs, worlds, every) => {
          const { store, manifest } = await dataset(docs, 64);
          const probe = new TokenDataLoader(store, manifest, config());
          const steps = Math.ceil((1.5 * probe.order.samplesPerEpoch) / 12) + 1;
          const tokensOf = (samples: { tokens: Int32Array }[]) => samples.map((s) => Array.from(s.tokens));
          const reference: number[][][] = [];
          for (let step = 0; step < steps; step++) reference.push(tokensOf((await probe.batch(step)).samples));
          // Preempt every `every` steps; each attempt resumes from the previous attempt's state at that step.
          let state: ResumeState | undefined;
          const seen: number[][][] = [];
          for (let step = 0, attempt = 0; step < steps; attempt++) {
            const world = worlds[attempt % worlds.length] ?? 1;
            const ranks = Array.from({ length: world }, (_, rank) => new TokenDataLoader(store, manifest, config({ rank, worldSize: world, attempt }), state));
            const end = Math.min(steps, step + every);
            for (; step < end; step++) {
              const perRank = await Promise.all(ranks.map((l) => l.batch(step)));
              seen.push(perRank.flatMap((b) => tokensOf(b.samples)));
            }
            state = ranks[0]?.stateAt(step);
            expect(state?.consumedSamples).toBe(batchRange(step, 12, { step: 0, consumedSamples: 0 }).start);
          }
          expect(seen).toEqual(reference);
        },
      ),
      { numRuns: 25 },
    );
  });

  it("returns packed samples whose tokens come from the corpus with EOS between documents", async () => {
    const docs = [
      [1, 2, 3],
      [4, 5, 6, 7, 8, 9, 10],
      [11, 12],
      [13, 14, 15, 16, 17],
    ];
    const { store, manifest } = await dataset(docs, 1 << 20);
    const loader = new TokenDataLoader(store, manifest, config({ shuffle: false, globalBatch: 2, contextLength: 4 }));
    const batch = await loader.batch(0);
    expect(batch.samples.map((s) => Array.from(s.tokens))).toEqual([
      [1, 2, 3, EOS, 4],
      [4, 5, 6, 7, 8],
    ]);
    expect(batch.samples.map((s) => s.documentStarts)).toEqual([[0, 4], [0]]);
    expect(loader.stateAt(1)).toMatchObject({ consumedSamples: 2, epoch: 0, sampleInEpoch: 2, samplesPerEpoch: 5, fingerprint: loader.fingerprint });
  });

  it("refuses resume state from another dataset", async () => {
    const a = await dataset([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], 1 << 20);
    const b = await dataset([[1, 2, 3, 4, 5, 6, 7, 8, 9, 11]], 1 << 20);
    const state = new TokenDataLoader(a.store, a.manifest, config({ globalBatch: 1 })).stateAt(1);
    expect(() => new TokenDataLoader(b.store, b.manifest, config({ globalBatch: 1 }), state)).toThrow(FingerprintMismatchError);
  });

  it("names the shard whose bytes fail their checksum or whose .idx is truncated", async () => {
    const docs = Array.from({ length: 12 }, (_, i) => [i, i + 1, i + 2, i + 3, i + 4, i + 5, i + 6, i + 7]);
    const { dir, store, manifest } = await dataset(docs, 48);
    const victim = manifest.shards[1];
    if (victim === undefined) throw new Error("expected a second shard");
    const bin = readFileSync(join(dir, victim.bin.path));
    bin[3] = (bin[3] ?? 0) ^ 0xff;
    writeFileSync(join(dir, victim.bin.path), bin);
    const loader = new TokenDataLoader(store, manifest, config({ shuffle: false, globalBatch: manifest.shards.length * 10, contextLength: 4, windowShards: 1 }));
    const err = await loader.batch(0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    expect((err as ChecksumMismatchError).shard).toBe(victim.name);
    expect((err as Error).message).toContain(`shard ${victim.name}: ${victim.bin.path} has sha256`);

    // A truncated .idx whose manifest entry was rewritten to match: the decoder still catches it.
    const idxPath = join(dir, victim.idx.path);
    const idx = readFileSync(idxPath).subarray(0, 40);
    writeFileSync(idxPath, idx);
    writeFileSync(join(dir, victim.bin.path), bin.map((v, i) => (i === 3 ? v ^ 0xff : v)));
    const { sha256Hex } = await import("@gantry/dataloader");
    const patched = { ...manifest, shards: manifest.shards.map((s) => (s === victim ? { ...s, idx: { ...s.idx, bytes: idx.length, sha256: sha256Hex(idx) } } : s)) };
    const err2 = await new TokenDataLoader(store, patched, config({ shuffle: false, globalBatch: 30, contextLength: 4, windowShards: 1 })).batch(0).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(CorruptShardError);
    expect((err2 as CorruptShardError).shard).toBe(victim.name);
    expect((err2 as Error).message).toMatch(/truncated or corrupt/);
  });

  it("rebuilds the manifest from a listing when index.json is missing", async () => {
    const docs = Array.from({ length: 30 }, (_, i) => Array.from({ length: 3 + (i % 11) }, (_, t) => i * 50 + t));
    const { dir, store, manifest } = await dataset(docs, 60);
    rmSync(join(dir, "index.json"));
    expect(await manifestFromListing(store, { tokenizer: "gpt2", eosToken: EOS })).toEqual(manifest);
    rmSync(join(dir, manifest.shards[2]?.bin.path ?? ""));
    await expect(manifestFromListing(store, { tokenizer: "gpt2", eosToken: EOS })).rejects.toThrow(`shard ${manifest.shards[2]?.name} is corrupt: ${manifest.shards[2]?.name}.idx has no`);
    const empty = join(root, "empty");
    mkdirSync(empty);
    await expect(manifestFromListing(new FileStore(empty), { tokenizer: "gpt2", eosToken: EOS })).rejects.toThrow(/there are no \.idx\/\.bin shards to list/);
  });

  it("says how to make a manifest when there is none", async () => {
    await expect(readManifest(new FileStore(join(root, "missing")))).rejects.toThrow(InvalidManifestError);
    await expect(readManifest(new FileStore(join(root, "missing")))).rejects.toThrow(/gantry-data prepare/);
  });
});

describe("shard cache", () => {
  it("loads a shard once for concurrent readers, stays within budget, and never evicts a pinned shard", async () => {
    const loads: number[] = [];
    const cache = new ShardCache<string>(300, (s) => {
      loads.push(s);
      return Promise.resolve({ value: `shard-${s}`, bytes: 100 });
    });
    expect(await Promise.all([cache.acquire(1), cache.acquire(1)])).toEqual(["shard-1", "shard-1"]);
    expect(loads).toEqual([1]);
    for (const s of [2, 3, 4]) {
      await cache.acquire(s);
      cache.release(s);
    }
    // Shard 1 is still pinned twice: 2 was least recently used and went instead.
    expect(cache.bytes).toBe(300);
    expect(cache.has(1)).toBe(true);
    expect(cache.has(2)).toBe(false);
    cache.release(1);
    cache.release(1);
    expect(cache.prefetch(5, 100)).toBe(true);
    await cache.acquire(5);
    expect(cache.has(1)).toBe(false);
    expect(cache.bytes).toBe(300);
  });

  it("never lets a prefetch evict a shard the reader retains for its current window", async () => {
    const cache = new ShardCache<number>(200, (s) => Promise.resolve({ value: s, bytes: 100 }));
    for (const s of [1, 2]) {
      await cache.acquire(s);
      cache.release(s);
    }
    cache.retain([1, 2]);
    expect(cache.prefetch(3, 100)).toBe(false);
    expect([cache.has(1), cache.has(2), cache.has(3)]).toEqual([true, true, false]);
    cache.retain([2, 3]);
    expect(cache.prefetch(3, 100)).toBe(true);
    await cache.acquire(3);
    expect([cache.has(1), cache.has(2), cache.has(3)]).toEqual([false, true, true]);
  });

  it("declines a prefetch that would only fit by evicting pinned shards", async () => {
    const cache = new ShardCache<number>(200, (s) => Promise.resolve({ value: s, bytes: 100 }));
    await cache.acquire(1);
    await cache.acquire(2);
    expect(cache.prefetch(3, 100)).toBe(false);
    expect(cache.has(3)).toBe(false);
  });
});
