import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EpochOrder, FeistelPermutation, GlobalOrder, IndexedDataset, IndexedShardBuilder, PartitionError, ShardStreamLayout, batchRange, hashWords, samplesInShard, sequencesFor, type ResumeAnchor } from "@gantry/dataloader";

describe("counter-based hash", () => {
  it("is a pure function of its words, sensitive to each and to their order", () => {
    expect(hashWords(1, 2, 3)).toBe(hashWords(1, 2, 3));
    expect(hashWords(1, 2, 3)).not.toBe(hashWords(1, 2, 4));
    expect(hashWords(1, 2, 3)).not.toBe(hashWords(3, 2, 1));
    // Pinned: changing the hash would silently change every job's sample order across a resume onto a new release.
    expect(hashWords(0)).toBe(72_149_576);
  });
});

describe("Feistel permutation", () => {
  it("is a bijection of [0, n) for any n and key", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n, key) => {
        const p = new FeistelPermutation(n, key);
        const seen = new Set<number>();
        for (let i = 0; i < n; i++) seen.add(p.at(i));
        expect(seen.size).toBe(n);
        for (const v of seen) expect(v >= 0 && v < n).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("actually shuffles, and differently per key", () => {
    const a = Array.from({ length: 1000 }, (_, i) => new FeistelPermutation(1000, 1).at(i));
    const b = Array.from({ length: 1000 }, (_, i) => new FeistelPermutation(1000, 2).at(i));
    expect(a.filter((v, i) => v === i).length).toBeLessThan(20);
    expect(a).not.toEqual(b);
  });
});

const samplesArb = fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 25 }).filter((s) => s.some((n) => n > 0));

describe("epoch order", () => {
  it("visits every sample of every shard exactly once per epoch, for any seed, epoch and window", () => {
    fc.assert(
      fc.property(samplesArb, fc.nat(), fc.nat({ max: 50 }), fc.integer({ min: 1, max: 8 }), fc.boolean(), (samples, seed, epoch, windowShards, shuffle) => {
        const order = new EpochOrder(samples, epoch, { seed, shuffle, windowShards });
        const total = samples.reduce((a, b) => a + b, 0);
        expect(order.total).toBe(total);
        const seen = new Set<string>();
        for (let i = 0; i < total; i++) {
          const { shard, sample } = order.sampleAt(i);
          expect(sample).toBeLessThan(samples[shard] ?? 0);
          seen.add(`${shard}/${sample}`);
        }
        expect(seen.size).toBe(total);
      }),
      { numRuns: 150 },
    );
  });

  it("keeps each stretch of the order within one window of shards", () => {
    const samples = Array.from({ length: 30 }, (_, i) => 5 + (i % 7));
    const order = new EpochOrder(samples, 3, { seed: 9, shuffle: true, windowShards: 4 });
    for (let i = 0; i < order.total; i++) expect(order.windowShardsOf(i)).toContain(order.sampleAt(i).shard);
    expect(order.windowShardsOf(0).length).toBe(4);
    // The next window is the following four shards of the permutation; the last window has none after it.
    const windows = Array.from({ length: 8 }, (_, w) => Array.from({ length: Math.min(4, 30 - 4 * w) }, (_, j) => order.shardAt(4 * w + j)));
    expect(order.windowShardsOf(0)).toEqual(windows[0]);
    expect(order.nextWindowShards(0)).toEqual(windows[1]);
    expect(order.nextWindowShards(order.total - 1)).toEqual([]);
    expect(new Set(windows.flat()).size).toBe(30);
  });

  it("is the same for the same (seed, epoch), and different across epochs and seeds", () => {
    const samples = Array.from({ length: 20 }, () => 10);
    const list = (seed: number, epoch: number) => {
      const o = new EpochOrder(samples, epoch, { seed, shuffle: true, windowShards: 4 });
      return Array.from({ length: o.total }, (_, i) => o.sampleAt(i));
    };
    expect(list(1, 0)).toEqual(list(1, 0));
    expect(list(1, 0)).not.toEqual(list(1, 1));
    expect(list(1, 0)).not.toEqual(list(2, 0));
  });

  it("keeps manifest order when shuffle is off", () => {
    const o = new EpochOrder([2, 0, 3], 5, { seed: 1, shuffle: false, windowShards: 2 });
    expect(Array.from({ length: 5 }, (_, i) => o.sampleAt(i))).toEqual([
      { shard: 0, sample: 0 },
      { shard: 0, sample: 1 },
      { shard: 2, sample: 0 },
      { shard: 2, sample: 1 },
      { shard: 2, sample: 2 },
    ]);
  });
});

describe("packing", () => {
  const corpusArb = fc.array(fc.array(fc.array(fc.integer({ min: 0, max: 999 }), { maxLength: 12 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 12 });

  it("equals cutting the EOS-joined document stream into (L+1)-token windows at stride L", () => {
    fc.assert(
      fc.property(corpusArb, fc.integer({ min: 1, max: 16 }), (docs, L) => {
        const EOS = 50256;
        const b = new IndexedShardBuilder("uint16");
        for (const d of docs) b.addDocument(d);
        const shard = b.finish();
        const ds = IndexedDataset.open("s", shard.idx, shard.bin);
        const layout = new ShardStreamLayout(ds.table);
        // Reference: the naive concatenation, and where each document starts in it.
        const stream: number[] = [];
        const starts = new Set<number>();
        for (const d of docs) {
          starts.add(stream.length);
          stream.push(...d.flat(), EOS);
        }
        const n = layout.samples(L);
        expect(n).toBe(samplesInShard(shard.tokens, shard.documents, L));
        expect(n).toBe(stream.length > L ? Math.floor((stream.length - 1) / L) : 0);
        for (let k = 0; k < n; k++) {
          const s = layout.sample(k, L, EOS, (i) => ds.sequence(i));
          expect(Array.from(s.tokens)).toEqual(stream.slice(k * L, k * L + L + 1));
          const expectedStarts = Array.from({ length: L + 1 }, (_, p) => p).filter((p) => starts.has(k * L + p));
          expect(s.documentStarts).toEqual(expectedStarts);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("partition", () => {
  it("tiles each global batch with equal contiguous rank slices", () => {
    const anchor = { step: 0, consumedSamples: 0 };
    const slices = [0, 1, 2, 3].map((rank) => sequencesFor({ step: 5, rank, worldSize: 4, globalBatch: 8, anchor }));
    expect(slices).toEqual([
      { start: 40, count: 2 },
      { start: 42, count: 2 },
      { start: 44, count: 2 },
      { start: 46, count: 2 },
    ]);
  });

  it("refuses uneven splits and ranks outside the world", () => {
    const anchor = { step: 0, consumedSamples: 0 };
    expect(() => sequencesFor({ step: 0, rank: 0, worldSize: 3, globalBatch: 8, anchor })).toThrow(PartitionError);
    expect(() => sequencesFor({ step: 0, rank: 4, worldSize: 4, globalBatch: 8, anchor })).toThrow(/rank 4 is outside world size 4/);
    expect(() => sequencesFor({ step: 1, rank: 0, worldSize: 1, globalBatch: 8, anchor: { step: 2, consumedSamples: 16 } })).toThrow(/before the resume step/);
  });

  // A run is a list of segments: each runs on some world size from its start step until the next preemption.
  const runArb = fc
    .record({
      samples: samplesArb,
      seed: fc.nat(),
      windowShards: fc.integer({ min: 1, max: 6 }),
      perRank: fc.integer({ min: 1, max: 4 }),
      worlds: fc.array(fc.constantFrom(1, 2, 3, 4, 6, 12), { minLength: 1, maxLength: 5 }),
      cuts: fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 4, maxLength: 4 }),
    })
    .map((r) => ({ ...r, globalBatch: 12 * r.perRank }));

  it("sees every sample of an epoch exactly once, and each step the same samples as an uninterrupted run, across preemptions and world-size changes", () => {
    fc.assert(
      fc.property(runArb, ({ samples, seed, windowShards, globalBatch, worlds, cuts }) => {
        const order = new GlobalOrder(samples, { seed, shuffle: true, windowShards });
        const perEpoch = order.samplesPerEpoch;
        const steps = Math.ceil((2 * perEpoch) / globalBatch) + 1;
        const key = (g: number) => {
          const l = order.locate(g);
          return `${l.epoch}:${l.shard}/${l.sample}`;
        };
        // Uninterrupted reference on one rank.
        const reference = Array.from({ length: steps }, (_, step) => {
          const r = sequencesFor({ step, rank: 0, worldSize: 1, globalBatch, anchor: { step: 0, consumedSamples: 0 } });
          return Array.from({ length: r.count }, (_, i) => key(r.start + i));
        });
        // Preempted run: at each cut, resume from the consumed-sample counter only, on the next world size.
        const boundaries = [...new Set(cuts.map((c) => c % steps))].filter((c) => c > 0).sort((a, b) => a - b);
        let anchor: ResumeAnchor = { step: 0, consumedSamples: 0 };
        let segment = 0;
        const seen: string[][] = [];
        for (let step = 0; step < steps; step++) {
          if (boundaries.includes(step)) {
            anchor = { step, consumedSamples: batchRange(step, globalBatch, anchor).start };
            segment++;
          }
          const world = worlds[segment % worlds.length] ?? 1;
          const batch: string[] = [];
          for (let rank = 0; rank < world; rank++) {
            const r = sequencesFor({ step, rank, worldSize: world, globalBatch, anchor });
            for (let i = 0; i < r.count; i++) batch.push(key(r.start + i));
          }
          seen.push(batch);
        }
        expect(seen).toEqual(reference);
        // Epoch 0 and epoch 1 are each covered exactly once.
        const flat = seen.flat();
        for (const epoch of [0, 1]) {
          const inEpoch = flat.filter((k) => k.startsWith(`${epoch}:`));
          expect(inEpoch.length).toBe(perEpoch);
          expect(new Set(inEpoch).size).toBe(perEpoch);
        }
      }),
      { numRuns: 150 },
    );
  });
});
