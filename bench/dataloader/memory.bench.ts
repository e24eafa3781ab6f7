// bench-dataloader-memory: peak RSS while the raw-text loader streams a JSONL corpus 10× its prefetch budget.
// Target: peak RSS ≤ the RSS before streaming + budget + 100 MB. Local files (file://), so it needs no cluster; the
// bytes tokenizer keeps a 2-core run short (the pipeline's buffers, not the BPE, are what is measured).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStore, TextStreamLoader } from "@gantry/dataloader";
import { printResult, printTable } from "../table.js";

const MiB = 2 ** 20;
const BUDGET = 32 * MiB;
const CORPUS = 10 * BUDGET;
const FILES = 8;
const CONTEXT = 2048;

const dir = mkdtempSync(join(tmpdir(), "bench-dl-mem-"));
let written = 0;
for (let f = 0; f < FILES; f++) {
  const lines: string[] = [];
  let bytes = 0;
  for (let d = 0; bytes < CORPUS / FILES; d++) {
    const line = JSON.stringify({ text: `doc ${f}/${d} ${"streaming text within a byte budget ".repeat(20 + (d % 200))}` });
    lines.push(line);
    bytes += line.length + 1;
  }
  writeFileSync(join(dir, `part-${f}.jsonl`), `${lines.join("\n")}\n`);
  written += bytes;
}
global.gc?.();
const baseline = process.memoryUsage().rss;
let peak = baseline;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);

const loader = await TextStreamLoader.open([{ name: "corpus", store: new FileStore(dir), format: "jsonl" }], {
  jobUid: "bench",
  attempt: 0,
  contextLength: CONTEXT,
  globalBatch: 16,
  rank: 0,
  worldSize: 1,
  seed: 1,
  shuffle: true,
  tokenizer: "bytes",
  prefetchBytes: BUDGET,
  tokenizerThreads: 1,
});
const start = process.hrtime.bigint();
let tokens = 0;
let maxFill = 0;
// One pass over the corpus (bytes tokenizer: one token per byte), checking the buffer after each batch.
for (let step = 0; tokens < written; step++) {
  const b = await loader.batch(step);
  tokens += b.samples.length * CONTEXT;
  maxFill = Math.max(maxFill, loader.stats().bufferBytes);
  peak = Math.max(peak, process.memoryUsage().rss);
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const stats = loader.stats();
await loader.close();
clearInterval(sampler);
rmSync(dir, { recursive: true, force: true });

const overBaseline = peak - baseline;
const limit = BUDGET + 100 * MiB;
printTable(`Raw-text streaming memory: ${(written / MiB).toFixed(0)} MiB JSONL corpus, ${BUDGET / MiB} MiB prefetch budget`, [
  { figure: "RSS before streaming (MiB)", value: baseline / MiB },
  { figure: "peak RSS (MiB)", value: peak / MiB },
  { figure: "peak RSS over baseline (MiB)", value: overBaseline / MiB },
  { figure: "limit: budget + 100 MiB (MiB)", value: limit / MiB },
  { figure: "max pipeline buffer (MiB)", value: maxFill / MiB },
  { figure: "read MiB/s", value: stats.bytesPerSecond / MiB },
  { figure: "tokens/s (M)", value: tokens / seconds / 1e6 },
  { figure: "consumer wait (ms)", value: stats.consumerWaitMs },
]);
printResult({
  bench: "dataloader-memory",
  corpus_mib: Number((written / MiB).toFixed(1)),
  budget_mib: BUDGET / MiB,
  corpus_to_budget: Number((written / BUDGET).toFixed(2)),
  baseline_rss_mib: Number((baseline / MiB).toFixed(1)),
  peak_rss_mib: Number((peak / MiB).toFixed(1)),
  peak_over_baseline_mib: Number((overBaseline / MiB).toFixed(1)),
  max_buffer_mib: Number((maxFill / MiB).toFixed(1)),
  read_mib_per_s: Number((stats.bytesPerSecond / MiB).toFixed(1)),
  consumer_wait_ms: Math.round(stats.consumerWaitMs),
  meets: { peak_rss_within_budget_plus_100mib: overBaseline <= limit, corpus_at_least_10x_budget: written >= 10 * BUDGET, buffer_within_budget: maxFill <= BUDGET },
});
