import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  FileStore,
  FingerprintMismatchError,
  InvalidTextRecordError,
  RecordSplitter,
  StreamOrderError,
  StreamRepartitionError,
  TextPacker,
  TextStreamLoader,
  TokenizerPool,
  drawStreams,
  encodeBatch,
  isHeldOut,
  mergeRankStates,
  normalizeWeights,
  parseResumeState,
  rankShards,
  type ResumeState,
  type TextLoaderConfig,
  type TextStreamSource,
} from "@gantry/dataloader";

const root = mkdtempSync(join(tmpdir(), "dl-stream-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const toArrays = (samples: { tokens: Int32Array; documentStarts: number[] }[]) => samples.map((s) => ({ t: Array.from(s.tokens), d: s.documentStarts }));

describe("text packer", () => {
  it("restored from its carry, emits exactly the samples of an uninterrupted run", () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer({ min: 1, max: 999 }), { maxLength: 40 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 12 }), fc.nat(), (docs, L, cutSeed) => {
        const all: ReturnType<typeof toArrays> = [];
        const whole = new TextPacker(L, 0);
        for (const d of docs) {
          whole.push(d);
          for (let s = whole.take(); s !== undefined; s = whole.take()) all.push(...toArrays([s]));
        }
        // Stop after document `cut`, save the carry (through JSON, as Redis would), resume in a fresh packer.
        const cut = cutSeed % docs.length;
        const a = new TextPacker(L, 0);
        const out: ReturnType<typeof toArrays> = [];
        docs.slice(0, cut + 1).forEach((d) => {
          a.push(d);
          for (let s = a.take(); s !== undefined; s = a.take()) out.push(...toArrays([s]));
        });
        const c = a.carry();
        const saved = JSON.parse(JSON.stringify({ tokens: Array.from(c.tokens), documentStarts: c.documentStarts })) as { tokens: number[]; documentStarts: number[] };
        const b = new TextPacker(L, 0, { tokens: Int32Array.from(saved.tokens), documentStarts: saved.documentStarts });
        for (const d of docs.slice(cut + 1)) {
          b.push(d);
          for (let s = b.take(); s !== undefined; s = b.take()) out.push(...toArrays([s]));
        }
        expect(out).toEqual(all);
        // Samples overlap by one token and carry EOS after each document.
        for (let i = 1; i < all.length; i++) expect(all[i]?.t[0]).toBe(all[i - 1]?.t[L]);
      }),
    );
  });

  it("marks where documents start", () => {
    const p = new TextPacker(4, 0);
    p.push([1, 2]);
    p.push([3, 4, 5]);
    expect(toArrays([p.take() as never])).toEqual([{ t: [1, 2, 0, 3, 4], d: [0, 3] }]);
    expect(p.take()).toBeUndefined();
    expect(Array.from(p.carry().tokens)).toEqual([4, 5, 0]);
  });
});

describe("mix schedule", () => {
  it("keeps every stream within one draw of its share, and resumes from the counts alone", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 400 }), fc.nat(), (weights, draws, cutSeed) => {
        const shares = normalizeWeights(weights);
        const all = drawStreams(shares, weights.map(() => 0), draws);
        const counts = weights.map(() => 0);
        all.streams.forEach((s, k) => {
          counts[s] = (counts[s] ?? 0) + 1;
          for (let i = 0; i < shares.length; i++) expect(Math.abs((counts[i] ?? 0) - (shares[i] ?? 0) * (k + 1))).toBeLessThan(1 + 1e-6);
        });
        const cut = cutSeed % (draws + 1);
        const first = drawStreams(shares, weights.map(() => 0), cut);
        expect([...first.streams, ...drawStreams(shares, first.counts, draws - cut).streams]).toEqual(all.streams);
      }),
    );
  });

  it("rejects weights that are not positive", () => {
    expect(() => normalizeWeights([1, 0])).toThrow(/positive/);
    expect(() => normalizeWeights([])).toThrow(/at least one/);
  });
});

describe("record splitter", () => {
  it("gives the same records and offsets however the bytes are chunked", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 12 }), { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1 }), (lines, cuts) => {
        const bytes = new TextEncoder().encode(lines.map((l) => l.replace(/\n/g, "")).join("\n"));
        const split = (sizes: number[]) => {
          const s = new RecordSplitter("line", 0, 1 << 20, () => new Error("too large"));
          const out = [];
          for (let at = 0, k = 0; at < bytes.length; k++) {
            const size = sizes[k % sizes.length] ?? 1;
            out.push(...s.push(bytes.subarray(at, at + size)));
            at += size;
          }
          out.push(...s.finish());
          return out.map((r) => ({ text: new TextDecoder().decode(r.bytes), start: r.start, end: r.end }));
        };
        const once = split([bytes.length || 1]);
        expect(split(cuts)).toEqual(once);
        for (const r of once) expect(new TextDecoder().decode(bytes.subarray(r.start, r.start + new TextEncoder().encode(r.text).length))).toBe(r.text);
      }),
    );
  });
});

describe("rank files and held-out split", () => {
  it("gives every file of an epoch to exactly one rank", () => {
    for (const w of [1, 2, 3, 5]) {
      const seen = Array.from({ length: w }, (_, r) => rankShards(11, 9, 2, r, w, true)).flat();
      expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 11 }, (_, i) => i));
    }
    expect(rankShards(11, 9, 2, 0, 2, true)).not.toEqual(rankShards(11, 9, 3, 0, 2, true));
    expect(() => rankShards(2, 0, 0, 0, 3, true)).toThrow(/at least one per rank/);
  });

  it("holds out a stable fraction of documents", () => {
    let held = 0;
    for (let i = 0; i < 20_000; i++) if (isHeldOut(4, "a.jsonl", i * 57, 0.1)) held++;
    expect(held / 20_000).toBeGreaterThan(0.09);
    expect(held / 20_000).toBeLessThan(0.11);
    expect(isHeldOut(4, "a.jsonl", 570, 0.1)).toBe(isHeldOut(4, "a.jsonl", 570, 0.1));
    expect(isHeldOut(4, "a.jsonl", 570, 0)).toBe(false);
  });
});

describe("tokenizer pool", () => {
  it("returns on worker threads the tokens of a direct encode", async () => {
    const pool = new TokenizerPool("gpt2", 2);
    const texts = Array.from({ length: 50 }, (_, i) => `document ${i}: the quick brown fox ${"jumps ".repeat(i % 7)}`);
    const [a, b] = await Promise.all([pool.encode(texts.slice(0, 25)), pool.encode(texts.slice(25))]);
    await pool.close();
    const direct = encodeBatch("gpt2", texts);
    expect([...Array.from(a.tokens), ...Array.from(b.tokens)]).toEqual(Array.from(direct.tokens));
    expect([...Array.from(a.lengths), ...Array.from(b.lengths)]).toEqual(Array.from(direct.lengths));
  });
});

/** `files` JSONL files of `docs` records each, every 3rd one gzipped; words vary so BPE output varies. */
function corpus(files: number, docs: number, field = "text"): string {
  const dir = join(root, String(n++));
  mkdirSync(dir);
  for (let f = 0; f < files; f++) {
    const lines = Array.from({ length: docs }, (_, d) => JSON.stringify({ id: d, [field]: `file ${f} doc ${d} ${"lorem ipsum dolor ".repeat(1 + ((f * 7 + d * 3) % 11))}end` }));
    const body = `${lines.join("\n")}\n`;
    if (f % 3 === 2) writeFileSync(join(dir, `part-${f}.jsonl.gz`), gzipSync(body));
    else writeFileSync(join(dir, `part-${f}.jsonl`), body);
  }
  return dir;
}

const cfg = (over: Partial<TextLoaderConfig> = {}): TextLoaderConfig => ({
  jobUid: "job-t",
  attempt: 0,
  contextLength: 16,
  globalBatch: 4,
  rank: 0,
  worldSize: 1,
  seed: 7,
  shuffle: true,
  tokenizer: "gpt2",
  prefetchBytes: 1 << 20,
  chunkBytes: 512,
  readAhead: 2,
  tokenizerThreads: 0,
  ...over,
});

async function run(streams: TextStreamSource[], config: TextLoaderConfig, from: number, to: number, resume?: ResumeState) {
  const loader = await TextStreamLoader.open(streams, config, resume);
  const out: ReturnType<typeof toArrays>[] = [];
  const states = new Map<number, ResumeState>();
  try {
    for (let step = from; step < to; step++) {
      out.push(toArrays((await loader.batch(step)).samples));
      states.set(step + 1, loader.stateAt(step + 1));
    }
  } finally {
    await loader.close();
  }
  return { out, states, loader };
}

describe("raw-text stream loader", () => {
  it("resumes mid-file on packed JSONL (plain and gzip) with exactly the samples of an uninterrupted run, on every rank", async () => {
    const dir = corpus(6, 40);
    const streams = [{ name: "web", store: new FileStore(dir), format: "jsonl" as const }];
    const steps = 60; // about 2.5 epochs per rank, so resumes land mid-file, in .gz files and across epochs
    for (const w of [1, 2]) {
      const reference = await Promise.all([...Array(w).keys()].map((r) => run(streams, cfg({ worldSize: w, rank: r }), 0, steps)));
      for (const stop of [7, 23, 41]) {
        const states = reference.map((r) => r.states.get(stop) as ResumeState);
        // Through JSON and the schema, as Redis or a checkpoint would hand it back.
        const merged = parseResumeState("test", JSON.stringify(mergeRankStates(states)));
        expect(merged.cursors.length).toBe(w);
        expect(merged.cursors.some((c) => c.byteOffset > 0 && c.carry.length > 0)).toBe(true);
        for (let r = 0; r < w; r++) {
          const resumed = await run(streams, cfg({ worldSize: w, rank: r, attempt: 1, tokenizerThreads: r }), stop, steps, merged);
          expect(resumed.out).toEqual(reference[r]?.out.slice(stop));
        }
      }
    }
  });

  it("refuses a world-size change, a changed corpus, and steps out of order", async () => {
    const dir = corpus(4, 10);
    const streams = [{ name: "web", store: new FileStore(dir), format: "jsonl" as const }];
    const a = await run(streams, cfg({ worldSize: 2, rank: 0 }), 0, 3);
    const b = await run(streams, cfg({ worldSize: 2, rank: 1 }), 0, 3);
    const state = mergeRankStates([a.states.get(3) as ResumeState, b.states.get(3) as ResumeState]);
    await expect(TextStreamLoader.open(streams, cfg({ worldSize: 4 }), state)).rejects.toThrow(StreamRepartitionError);
    await expect(TextStreamLoader.open(streams, cfg({ worldSize: 4 }), state)).rejects.toThrow(/convert the corpus with gantry-data prepare/);
    writeFileSync(join(dir, "part-9.jsonl"), '{"text":"new"}\n');
    await expect(TextStreamLoader.open(streams, cfg({ worldSize: 2 }), state)).rejects.toThrow(FingerprintMismatchError);
    const l = await TextStreamLoader.open(streams, cfg());
    await l.batch(0);
    await expect(l.batch(2)).rejects.toThrow(StreamOrderError);
    await l.close();
  });

  it("mixes weighted streams in their shares and resumes each stream exactly", async () => {
    const streams = [
      { name: "web", store: new FileStore(corpus(3, 30)), format: "jsonl" as const, weight: 3 },
      { name: "code", store: new FileStore(corpus(2, 30, "content")), format: "jsonl" as const, textField: "content", weight: 1 },
    ];
    const ref = await run(streams, cfg({ globalBatch: 8 }), 0, 20);
    const mixed = await TextStreamLoader.open(streams, cfg({ globalBatch: 8 }));
    const drawn = (await mixed.batch(0)).streams;
    await mixed.close();
    expect(drawn).toEqual([0, 0, 1, 0, 0, 0, 1, 0]);
    const resumed = await run(streams, cfg({ globalBatch: 8, attempt: 1 }), 9, 20, ref.states.get(9));
    expect(resumed.out).toEqual(ref.out.slice(9));
    expect(ref.states.get(20)?.cursors.map((c) => [c.stream, c.samples])).toEqual([
      ["web", 120],
      ["code", 40],
    ]);
  });

  it("splits off validation documents that training never sees", async () => {
    const dir = corpus(2, 60);
    const streams = [{ name: "web", store: new FileStore(dir), format: "jsonl" as const }];
    const words = async (role: "train" | "validation") => {
      const l = await TextStreamLoader.open(streams, cfg({ tokenizer: "bytes", contextLength: 64, split: { heldOutFraction: 0.2, role } }));
      const text: string[] = [];
      for (let step = 0; step < 10; step++) for (const s of (await l.batch(step)).samples) text.push(Buffer.from(Int8Array.from(s.tokens.subarray(0, 64)).buffer).toString("latin1"));
      await l.close();
      return new Set(text.join("").match(/file \d doc \d+ /g));
    };
    const train = await words("train");
    const validation = await words("validation");
    expect(validation.size).toBeGreaterThan(3);
    for (const d of validation) expect(train.has(d)).toBe(false);
  });

  it("names the file and byte of a bad record", async () => {
    const dir = join(root, String(n++));
    mkdirSync(dir);
    writeFileSync(join(dir, "a.jsonl"), '{"text":"fine"}\n{"body":"no text"}\n');
    const l = await TextStreamLoader.open([{ name: "web", store: new FileStore(dir), format: "jsonl" }], cfg());
    const err = await l.batch(0).catch((e: unknown) => e);
    await l.close();
    expect(err).toBeInstanceOf(InvalidTextRecordError);
    expect((err as Error).message).toMatch(/a\.jsonl at byte 16: field "text" is missing$/);
  });

  it("stays within its byte budget while the consumer does not read", async () => {
    const dir = corpus(4, 400);
    const budget = 96 * 1024;
    const l = await TextStreamLoader.open([{ name: "web", store: new FileStore(dir), format: "jsonl" }], cfg({ prefetchBytes: budget, chunkBytes: 4096, readAhead: 2 }));
    await l.batch(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const s = l.stats();
    await l.close();
    expect(s.bufferBytes).toBeLessThanOrEqual(budget + 256 * 1024 /* one tokenizer batch can overshoot */);
    expect(s.bufferFill).toBeGreaterThan(0.3);
    expect(s.tokens).toBeGreaterThan(0);
    expect(s.bytesRead).toBeGreaterThan(0);
  });
});
