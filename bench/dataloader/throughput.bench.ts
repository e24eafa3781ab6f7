// bench-dataloader: what the dataloader delivers from S3 against what minio's raw parallel ranged GETs fetch, measured
// side by side on the same shards in one run, and time to first batch on a 100,000-shard manifest, fresh and resumed at
// step 1,000,000 (no fast-forward: the position is arithmetic on the consumed-sample counter).
// Needs the local cluster's S3 server (make cluster-up); reads its address from the environment or .gantry/env.
import { randomBytes } from "node:crypto";
import { availableParallelism, loadavg } from "node:os";
import type { Client } from "minio";
import { IndexedShardBuilder, S3Store, TokenDataLoader, createS3Client, runPool, shardEntry, shardName, writeManifest, type LoaderConfig, type Manifest } from "@gantry/dataloader";
import { readClusterEnv } from "../../test/support/cluster-env.js";
import { printResult, printTable } from "../table.js";

const TARGET_RATIO = 0.9; // the loader delivers at least 90% of raw ranged-GET throughput
const TARGET_TTFB_S = 2; // first batch within 2 s on a 100,000-shard manifest
const TARGET_RESUME_RATIO = 1.2; // a resume at a late step reaches its first batch as fast as step 0 (20% for noise)
const RESUME_STEP = 1_000_000;

const SHARDS = 12;
const SHARD_TOKENS = 16 * 1024 * 1024; // 32 MiB of uint16 per shard: 4 parts, so a 4-shard window keeps 16 GETs in flight
const PART_BYTES = 8 * 1024 * 1024;
const CONNECTIONS = 16; // raw: 16 GETs in flight; loader: 2 shards of a window x 4 parts each, and as many for the next window
const CONTEXT = 2048;
const MANIFEST_SHARDS = 100_000;

const env = process.env["S3_ENDPOINT"] === undefined ? readClusterEnv() : (process.env as unknown as ReturnType<typeof readClusterEnv>);
const client: Client = createS3Client({ endpoint: env.S3_ENDPOINT, region: env.S3_REGION, accessKey: env.S3_ACCESS_KEY, secretKey: env.S3_SECRET_KEY, pathStyle: true });
const bucket = env.S3_BUCKET;
const root = `bench/dataloader/${randomBytes(4).toString("hex")}/`;
const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** Random-length documents of random tokens, cut into SHARDS shards. */
async function writeCorpus(store: S3Store): Promise<Manifest> {
  let seed = 12345;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const shards: Manifest["shards"] = [];
  const uploads: (() => Promise<void>)[] = [];
  for (let s = 0; s < SHARDS; s++) {
    const b = new IndexedShardBuilder("uint16");
    let tokens = 0;
    while (tokens < SHARD_TOKENS) {
      const doc = new Uint16Array(Math.min(SHARD_TOKENS - tokens, 200 + (next() % 3000)));
      for (let i = 0; i < doc.length; i++) doc[i] = next() % 50257;
      b.addDocument(doc);
      tokens += doc.length;
    }
    const built = b.finish();
    const entry = shardEntry(shardName(s), built);
    shards.push(entry);
    uploads.push(() => store.write(entry.bin.path, built.bin), () => store.write(entry.idx.path, built.idx));
  }
  await runPool(uploads, 8);
  const manifest: Manifest = { format: "megatron-indexed", version: 1, tokenizer: "gpt2", dtype: "uint16", eosToken: 50256, shards };
  await writeManifest(store, manifest);
  return manifest;
}

/** Raw minio: every .bin in PART_BYTES ranged GETs, CONNECTIONS at a time, bodies drained into memory. */
async function rawRound(prefix: string, manifest: Manifest): Promise<{ bytes: number; s: number }> {
  const tasks: (() => Promise<void>)[] = [];
  let bytes = 0;
  for (const shard of manifest.shards) {
    for (let at = 0; at < shard.bin.bytes; at += PART_BYTES) {
      const length = Math.min(PART_BYTES, shard.bin.bytes - at);
      tasks.push(async () => {
        const body = await client.getPartialObject(bucket, `${prefix}${shard.bin.path}`, at, length);
        const chunks: Buffer[] = [];
        for await (const c of body) chunks.push(c as Buffer);
        bytes += Buffer.concat(chunks).length;
      });
    }
  }
  const start = process.hrtime.bigint();
  await runPool(tasks, CONNECTIONS);
  return { bytes, s: seconds(start) };
}

const loaderConfig = (over: Partial<LoaderConfig> = {}): LoaderConfig => ({
  jobUid: "bench",
  attempt: 0,
  contextLength: CONTEXT,
  globalBatch: 32,
  rank: 0,
  worldSize: 1,
  seed: 1,
  shuffle: true,
  windowShards: 2,
  cacheBytes: 256 * 1024 * 1024,
  prefetchSteps: 4,
  ...over,
});

/** The dataloader over the same shards: one full epoch of packed samples; counts each delivered token once. */
async function loaderRound(store: S3Store): Promise<{ bytes: number; s: number; samples: number }> {
  const start = process.hrtime.bigint();
  const probe = await TokenDataLoader.open(store, loaderConfig());
  const steps = Math.floor(probe.order.samplesPerEpoch / 32);
  // A job of exactly one epoch, which the trainer tells the loader: nothing past its last step is downloaded.
  const loader = new TokenDataLoader(store, probe.manifest, loaderConfig({ lastStep: steps - 1 }), undefined, probe.fingerprint);
  let samples = 0;
  for (let step = 0; step < steps; step++) samples += (await loader.batch(step)).samples.length;
  return { bytes: samples * CONTEXT * 2, s: seconds(start), samples };
}

/** The same epoch with every shard already in memory: the loader's own CPU cost (order, packing), no I/O. */
async function cachedRound(store: S3Store): Promise<number> {
  const loader = await TokenDataLoader.open(store, loaderConfig({ cacheBytes: 2 ** 30 }));
  const steps = Math.floor(loader.order.samplesPerEpoch / 32);
  for (let step = 0; step < steps; step++) await loader.batch(step); // fills the cache
  const start = process.hrtime.bigint();
  let samples = 0;
  for (let step = steps; step < 2 * steps; step++) samples += (await loader.batch(step)).samples.length;
  return (samples * CONTEXT * 2) / seconds(start);
}

/** A manifest of MANIFEST_SHARDS entries that point, round robin, at four small real shards. */
async function writeWideManifest(store: S3Store): Promise<number> {
  const real: Manifest["shards"] = [];
  for (let s = 0; s < 4; s++) {
    const b = new IndexedShardBuilder("uint16");
    for (let d = 0; d < 64; d++) b.addDocument(Uint16Array.from({ length: 1000 }, (_, i) => (s * 7 + d * 31 + i) % 50257));
    const built = b.finish();
    const entry = shardEntry(`real-${s}`, built);
    await store.write(entry.bin.path, built.bin);
    await store.write(entry.idx.path, built.idx);
    real.push(entry);
  }
  const shards = Array.from({ length: MANIFEST_SHARDS }, (_, i) => ({ ...(real[i % 4] as Manifest["shards"][number]), name: shardName(i) }));
  const manifest: Manifest = { format: "megatron-indexed", version: 1, tokenizer: "gpt2", dtype: "uint16", eosToken: 50256, shards };
  await writeManifest(store, manifest);
  return Buffer.byteLength(`${JSON.stringify(manifest, null, 1)}\n`);
}

async function cleanup(): Promise<void> {
  const keys: string[] = [];
  for await (const item of client.listObjectsV2(bucket, root, true)) if (typeof item.name === "string") keys.push(item.name);
  for (let i = 0; i < keys.length; i += 1000) await client.removeObjects(bucket, keys.slice(i, i + 1000));
}

async function main(): Promise<void> {
  const corpusPrefix = `${root}corpus/`;
  const corpus = new S3Store(client, bucket, corpusPrefix, { partBytes: PART_BYTES, concurrency: 4 });
  const manifest = await writeCorpus(corpus);
  await rawRound(corpusPrefix, manifest); // warm-up

  const raw: number[] = [];
  const loaded: number[] = [];
  let samples = 0;
  for (let r = 0; r < 3; r++) {
    const a = await rawRound(corpusPrefix, manifest);
    raw.push(a.bytes / a.s);
    const b = await loaderRound(corpus);
    loaded.push(b.bytes / b.s);
    samples = b.samples;
  }
  const cachedRate = await cachedRound(corpus);
  const rawRate = median(raw);
  const loaderRate = median(loaded);
  const ratio = loaderRate / rawRate;

  const wide = new S3Store(client, bucket, `${root}wide/`);
  const manifestBytes = await writeWideManifest(wide);
  const wideConfig = loaderConfig({ contextLength: 1024, globalBatch: 64, worldSize: 8, rank: 3 });
  // The state a checkpoint at step RESUME_STEP would hold: consumed samples = RESUME_STEP x 64, many epochs in.
  const reference = await TokenDataLoader.open(wide, wideConfig);
  const resume = reference.stateAt(RESUME_STEP);
  const ttfb: number[] = [];
  const ttfbResumed: number[] = [];
  const firstFresh: number[] = [];
  const firstResumed: number[] = [];
  // Interleaved, so both see the same server and the same load; open = read and parse index.json, then build the loader.
  for (let r = 0; r < 3; r++) {
    for (const late of [false, true]) {
      const step = late ? RESUME_STEP : 0;
      const start = process.hrtime.bigint();
      const loader = await TokenDataLoader.open(wide, wideConfig, late ? resume : undefined);
      const first = await loader.batch(step);
      (late ? ttfbResumed : ttfb).push(seconds(start));
      if (first.samples.length !== 8) throw new Error(`first batch has ${first.samples.length} samples, expected 8`);
      const expected = late ? RESUME_STEP * 64 + 3 * 8 : 3 * 8;
      if (first.locations[0]?.global !== expected) throw new Error(`first sample is ${first.locations[0]?.global}, expected ${expected}`);
    }
    // The loader alone, manifest already in memory (what is left once index.json is cached): the order, the plan, one batch.
    for (const late of [false, true]) {
      const start = process.hrtime.bigint();
      const loader = new TokenDataLoader(wide, reference.manifest, wideConfig, late ? resume : undefined, reference.fingerprint);
      await loader.batch(late ? RESUME_STEP : 0);
      (late ? firstResumed : firstFresh).push(seconds(start));
    }
  }
  const ttfbS = median(ttfb);
  const ttfbResumedS = median(ttfbResumed);
  const resumeRatio = ttfbResumedS / ttfbS;
  const loaderOnlyRatio = median(firstResumed) / median(firstFresh);
  await cleanup();

  const mib = (bps: number) => bps / 2 ** 20;
  printTable(`S3 read throughput, ${SHARDS} shards x ${(SHARD_TOKENS * 2) / 2 ** 20} MiB, ${PART_BYTES / 2 ** 20} MiB parts, ${CONNECTIONS} connections, 3 interleaved rounds (median)`, [
    { path: "raw minio ranged GETs (.bin only)", "MiB/s": mib(rawRate) },
    { path: `dataloader, 1 epoch of ${samples} x ${CONTEXT}-token samples`, "MiB/s": mib(loaderRate) },
    { path: "dataloader, shards already cached (CPU only)", "MiB/s": mib(cachedRate) },
  ]);
  console.log(`${availableParallelism()} CPU(s) shared by the S3 server and this process: fetching, sha256 of every shard and packing compete with the server for them.`);
  printTable(`Time to first batch, ${MANIFEST_SHARDS.toLocaleString("en-US")}-shard manifest (${(manifestBytes / 2 ** 20).toFixed(1)} MiB index.json), rank 3 of 8, 3 interleaved runs (median)`, [
    { start: "fresh, step 0", "open manifest + first batch (s)": ttfbS, "loader only, manifest in memory (s)": median(firstFresh) },
    { start: `resumed at step ${RESUME_STEP.toLocaleString("en-US")} (epoch ${resume.epoch})`, "open manifest + first batch (s)": ttfbResumedS, "loader only, manifest in memory (s)": median(firstResumed) },
  ]);
  console.log(`delivered/raw: ${ratio.toFixed(3)} (target >= ${TARGET_RATIO}); time to first batch: ${ttfbS.toFixed(3)} s (target < ${TARGET_TTFB_S} s)`);
  console.log(`resumed/fresh time to first batch: ${resumeRatio.toFixed(3)} (target <= ${TARGET_RESUME_RATIO}: no fast-forward); loader only: ${loaderOnlyRatio.toFixed(3)}`);
  printResult({
    bench: "dataloader",
    raw_mib_per_s: Number(mib(rawRate).toFixed(1)),
    loader_mib_per_s: Number(mib(loaderRate).toFixed(1)),
    loader_to_raw_ratio: Number(ratio.toFixed(3)),
    cached_loader_mib_per_s: Number(mib(cachedRate).toFixed(1)),
    cpus: availableParallelism(),
    // Other processes on the same cores move every figure; this says how busy the machine was.
    load_average_1m: Number((loadavg()[0] ?? 0).toFixed(2)),
    manifest_shards: MANIFEST_SHARDS,
    manifest_mib: Number((manifestBytes / 2 ** 20).toFixed(1)),
    time_to_first_batch_s: Number(ttfbS.toFixed(3)),
    resume_step: RESUME_STEP,
    resumed_time_to_first_batch_s: Number(ttfbResumedS.toFixed(3)),
    resumed_to_fresh_ratio: Number(resumeRatio.toFixed(3)),
    loader_only_first_batch_ms: Number((median(firstFresh) * 1e3).toFixed(1)),
    loader_only_resumed_first_batch_ms: Number((median(firstResumed) * 1e3).toFixed(1)),
    loader_only_resumed_to_fresh_ratio: Number(loaderOnlyRatio.toFixed(3)),
    meets: { loader_to_raw_ratio: ratio >= TARGET_RATIO, time_to_first_batch_s: ttfbS < TARGET_TTFB_S, resumed_to_fresh_ratio: resumeRatio <= TARGET_RESUME_RATIO },
  });
}

main().catch(async (err: unknown) => {
  console.error(err);
  await cleanup().catch(() => undefined);
  process.exit(1);
});
