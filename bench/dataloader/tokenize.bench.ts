// bench-dataloader-tokenize: tokens/s for JSONL through the TokenizerPool on 1 and 2 worker threads, against
// js-tiktoken and gpt-tokenizer called directly on one thread, on the same text in one run. Needs no cluster.
import { availableParallelism, loadavg } from "node:os";
import { encode as gptTokenizerR50k } from "gpt-tokenizer/encoding/r50k_base";
import { Tiktoken } from "js-tiktoken/lite";
import cl100kRanks from "js-tiktoken/ranks/cl100k_base";
import gpt2Ranks from "js-tiktoken/ranks/gpt2";
import { TokenizerPool, type EncoderName } from "@gantry/dataloader";
import { printResult, printTable } from "../table.js";

const TARGET_SCALING = 1.7; // 2 threads deliver at least 1.7x one thread: near-linear on 2 cores
const TEXT_BYTES = 2 * 1024 * 1024;
const BATCH_BYTES = 256 * 1024; // what the text stream loader sends per request
const ROUNDS = 3;

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** JSONL of prose-like records: words of a Zipf-ish vocabulary, punctuation, numbers, some non-ASCII. */
function corpus(): string {
  let seed = 7;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const syllables = ["ka", "ri", "to", "men", "sa", "lo", "vin", "de", "qu", "ab", "or", "el", "ti", "ström", "ça", "ny"];
  const words = Array.from({ length: 4000 }, () => Array.from({ length: 1 + (next() % 4) }, () => syllables[next() % syllables.length]).join(""));
  const lines: string[] = [];
  let bytes = 0;
  while (bytes < TEXT_BYTES) {
    const parts: string[] = [];
    const n = 50 + (next() % 400);
    for (let i = 0; i < n; i++) {
      const r = next();
      // Squaring skews towards frequent words, as in real text.
      const w = words[Math.floor(((r % 1000) / 1000) ** 2 * words.length)] ?? "the";
      parts.push(r % 17 === 0 ? `${w}, ` : r % 23 === 0 ? `${w}. ` : r % 97 === 0 ? `${r % 10_000} ` : `${w} `);
    }
    const line = JSON.stringify({ text: parts.join("").trim(), id: lines.length });
    lines.push(line);
    bytes += line.length + 1;
  }
  return `${lines.join("\n")}\n`;
}

/** The texts of the JSONL, parsed on this thread, cut into batches of about BATCH_BYTES. */
function batches(jsonl: string): string[][] {
  const out: string[][] = [];
  let batch: string[] = [];
  let size = 0;
  for (const line of jsonl.split("\n")) {
    if (line === "") continue;
    const text = (JSON.parse(line) as { text: string }).text;
    batch.push(text);
    size += text.length;
    if (size >= BATCH_BYTES) {
      out.push(batch);
      batch = [];
      size = 0;
    }
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

/** One thread, no pool: parse and encode each record in turn. */
function direct(jsonl: string, encode: (text: string) => number[]): { tokens: number; s: number } {
  const start = process.hrtime.bigint();
  let tokens = 0;
  for (const line of jsonl.split("\n")) if (line !== "") tokens += encode((JSON.parse(line) as { text: string }).text).length;
  return { tokens, s: seconds(start) };
}

/** Through the pool: parse here, encode on its threads, two batches in flight per thread so none idles. */
async function pooled(jsonl: string, pool: TokenizerPool): Promise<{ tokens: number; s: number }> {
  const start = process.hrtime.bigint();
  const work = batches(jsonl);
  let tokens = 0;
  let next = 0;
  const lane = async () => {
    while (next < work.length) {
      const batch = work[next++];
      if (batch === undefined) continue;
      // Awaited before adding: `tokens += await ...` would read `tokens` before the await and lose other lanes' counts.
      const encoded = await pool.encode(batch);
      tokens += encoded.tokens.length;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, pool.threads * 2) }, lane));
  return { tokens, s: seconds(start) };
}

async function main(): Promise<void> {
  const jsonl = corpus();
  const sample = batches(jsonl)[0] ?? [];
  const tiktokenGpt2 = new Tiktoken(gpt2Ranks);
  const tiktokenCl100k = new Tiktoken(cl100kRanks);
  const none = new Set<string>();
  const directs: Record<string, (t: string) => number[]> = {
    "js-tiktoken gpt2, direct": (t) => tiktokenGpt2.encode(t, [], []),
    "gpt-tokenizer r50k (gpt2), direct": (t) => gptTokenizerR50k(t, { disallowedSpecial: none }),
    "js-tiktoken cl100k_base, direct": (t) => tiktokenCl100k.encode(t, [], []),
  };
  const pools: { label: string; name: EncoderName; pool: TokenizerPool }[] = [];
  for (const name of ["gpt2", "cl100k_base"] as const) for (const threads of [1, 2]) pools.push({ label: `TokenizerPool ${name}, ${threads} thread${threads > 1 ? "s" : ""}`, name, pool: new TokenizerPool(name, threads) });

  // Warm-up: workers started and their encoders built, JIT warm; and a check that the pool's tokens are the direct ones.
  for (const p of pools) {
    const reference = p.name === "gpt2" ? directs["gpt-tokenizer r50k (gpt2), direct"] : directs["js-tiktoken cl100k_base, direct"];
    for (let t = 0; t < p.pool.threads * 2; t++) {
      const got = await p.pool.encode(sample);
      const want = sample.flatMap((s) => reference?.(s) ?? []);
      if (got.tokens.length !== want.length || got.tokens.some((v, i) => v !== want[i])) throw new Error(`${p.label} encodes differently from the direct call`);
    }
  }
  for (const f of Object.values(directs)) direct(jsonl.slice(0, 200_000).replace(/\n[^\n]*$/, "\n"), f);

  const rates = new Map<string, number[]>();
  const tokenCounts = new Map<string, number>();
  const add = (label: string, r: { tokens: number; s: number }) => {
    rates.set(label, [...(rates.get(label) ?? []), r.tokens / r.s]);
    tokenCounts.set(label, r.tokens);
  };
  // Interleaved rounds: every configuration sees the same machine load.
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, f] of Object.entries(directs)) add(label, direct(jsonl, f));
    for (const p of pools) add(p.label, await pooled(jsonl, p.pool));
  }
  for (const p of pools) await p.pool.close();
  // Every path must have encoded the same corpus into the same number of tokens, or its rate means nothing.
  for (const p of pools) {
    const reference = p.name === "gpt2" ? "gpt-tokenizer r50k (gpt2), direct" : "js-tiktoken cl100k_base, direct";
    if (tokenCounts.get(p.label) !== tokenCounts.get(reference)) throw new Error(`${p.label} counted ${tokenCounts.get(p.label)} tokens, ${reference} ${tokenCounts.get(reference)}`);
  }

  const rate = (label: string) => median(rates.get(label) ?? []);
  const rows = [...rates.keys()].map((label) => {
    const threads = /(\d) thread/.exec(label)?.[1];
    return {
      path: label,
      "tokens/s": Math.round(rate(label)),
      "tokens/s per thread": Math.round(rate(label) / Number(threads ?? 1)),
      "MiB/s of JSONL": (rate(label) / (tokenCounts.get(label) ?? 1)) * (jsonl.length / 2 ** 20),
    };
  });
  const gpt2Scaling = rate("TokenizerPool gpt2, 2 threads") / rate("TokenizerPool gpt2, 1 thread");
  const cl100kScaling = rate("TokenizerPool cl100k_base, 2 threads") / rate("TokenizerPool cl100k_base, 1 thread");
  const gpt2VsDirect = rate("TokenizerPool gpt2, 1 thread") / rate("gpt-tokenizer r50k (gpt2), direct");
  const cl100kVsDirect = rate("TokenizerPool cl100k_base, 1 thread") / rate("js-tiktoken cl100k_base, direct");
  printTable(`Tokenizing ${(jsonl.length / 2 ** 20).toFixed(1)} MiB of JSONL, ${ROUNDS} interleaved rounds (median); pool batches of ${BATCH_BYTES / 1024} KiB`, rows);
  console.log(`${availableParallelism()} CPU(s); the main thread parses the JSONL and feeds the pool while its threads encode.`);
  console.log(`scaling 1 -> 2 threads: gpt2 ${gpt2Scaling.toFixed(2)}x, cl100k_base ${cl100kScaling.toFixed(2)}x (target >= ${TARGET_SCALING}x); pool on 1 thread vs the direct call: gpt2 ${gpt2VsDirect.toFixed(2)}x, cl100k_base ${cl100kVsDirect.toFixed(2)}x`);
  printResult({
    bench: "dataloader-tokenize",
    jsonl_mib: Number((jsonl.length / 2 ** 20).toFixed(1)),
    cpus: availableParallelism(),
    // Other processes on the same cores move every figure; this says how busy the machine was.
    load_average_1m: Number((loadavg()[0] ?? 0).toFixed(2)),
    tokens_per_s: Object.fromEntries([...rates.keys()].map((label) => [label, Math.round(rate(label))])),
    gpt2_scaling_2_threads: Number(gpt2Scaling.toFixed(3)),
    cl100k_scaling_2_threads: Number(cl100kScaling.toFixed(3)),
    gpt2_pool_1_thread_to_direct: Number(gpt2VsDirect.toFixed(3)),
    cl100k_pool_1_thread_to_direct: Number(cl100kVsDirect.toFixed(3)),
    meets: { gpt2_scaling_2_threads: gpt2Scaling >= TARGET_SCALING, cl100k_scaling_2_threads: cl100kScaling >= TARGET_SCALING },
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
