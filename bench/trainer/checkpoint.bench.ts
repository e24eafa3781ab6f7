// bench-trainer checkpoint: save and restore of a ~10M-parameter checkpoint (40 MB of weights, 80 MB of AdamW moments)
// on a local folder and on the local S3 server, against raw writes and reads of the same bytes in the same run
// (fs.writeFile/readFile; minio putObject/getObject). "blocking" is how long save() holds the training step: the copy.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stateAt } from "@gantry/dataloader";
import { CheckpointReader, CheckpointWriter, FileCheckpointStore, S3CheckpointStore, encodeSafetensors, type CheckpointStore, type NamedArray, type SaveInput } from "@gantry/trainer";
import { readClusterEnv } from "../../test/support/cluster-env.js";
import { s3Client } from "../../test/support/services.js";
import { median } from "../stats.js";
import { printResult, printTable } from "../table.js";

const TARGET_BLOCKING_MS = 200; // save() returns within 200 ms: the training step only waits for the copy
const TARGET_RATIO = 0.5; // a save commits at no less than half the throughput of raw writes of the same bytes

const PARAMS = 10_000_000;
const REPEATS = Number(process.env["CHECKPOINT_REPEATS"] ?? 3);
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

/** A GPT-like set of tensors adding up to PARAMS parameters. */
function weights(): NamedArray[] {
  const out: NamedArray[] = [];
  const d = 512;
  let left = PARAMS;
  for (let i = 0; left > 0; i++) {
    const n = Math.min(left, d * 4 * d);
    out.push({ name: `h.${i}.mlp.fc`, shape: [n], data: Float32Array.from({ length: n }, (_, k) => Math.sin(k + i)) });
    left -= n;
  }
  return out;
}

const FP = "sha256:bench";
function input(step: number, w: NamedArray[]): SaveInput {
  return {
    step,
    weights: w,
    optimizer: w.flatMap((t) => [{ ...t, name: `m.${t.name}` }, { ...t, name: `v.${t.name}` }]),
    tokensSeen: step * 1000,
    worldSize: 1,
    configHash: "bench",
    datasetFingerprint: FP,
    dataState: stateAt(step, { jobUid: "bench", attempt: 0, fingerprint: FP, seed: 1, samplesPerEpoch: 1_000_000, globalBatch: 8, worldSize: 1, contextLength: 256, anchor: { step: 0, consumedSamples: 0 } }),
  };
}

interface Figures {
  blockingMs: number;
  commitMs: number;
  restoreMs: number;
  rawWriteMs: number;
  rawReadMs: number;
  bytes: number;
}

async function measure(store: CheckpointStore, raw: { write: (name: string, b: Uint8Array) => Promise<void>; read: (name: string) => Promise<unknown> }): Promise<Figures> {
  const w = weights();
  const writer = new CheckpointWriter(store, { codeVersion: "bench", keep: 2 });
  const reader = new CheckpointReader(store);
  const files = [encodeSafetensors(w), encodeSafetensors(input(0, w).optimizer)];
  const bytes = files.reduce((a, f) => a + f.length, 0);
  const blocking: number[] = [];
  const commit: number[] = [];
  const restore: number[] = [];
  const rawWrite: number[] = [];
  const rawRead: number[] = [];
  for (let rep = 0; rep < REPEATS; rep++) {
    let t = process.hrtime.bigint();
    await Promise.all(files.map((f, i) => raw.write(`raw-${rep}-${i}`, f)));
    rawWrite.push(ms(t));
    t = process.hrtime.bigint();
    await Promise.all(files.map((_, i) => raw.read(`raw-${rep}-${i}`)));
    rawRead.push(ms(t));

    t = process.hrtime.bigint();
    const done = writer.save(input(rep + 1, w));
    blocking.push(ms(t));
    await done;
    commit.push(ms(t));
    t = process.hrtime.bigint();
    const loaded = await reader.latest();
    restore.push(ms(t));
    if (loaded?.step !== rep + 1) throw new Error(`restored step ${loaded?.step}, expected ${rep + 1}`);
  }
  return { blockingMs: median(blocking), commitMs: median(commit), restoreMs: median(restore), rawWriteMs: median(rawWrite), rawReadMs: median(rawRead), bytes };
}

async function main(): Promise<void> {
  const results: Record<string, Figures> = {};
  const dir = mkdtempSync(join(tmpdir(), "ckpt-bench-"));
  try {
    const rawDir = join(dir, "raw");
    await mkdir(rawDir);
    results["local"] = await measure(new FileCheckpointStore(join(dir, "ckpt")), { write: (n, b) => writeFile(join(rawDir, n), b), read: (n) => readFile(join(rawDir, n)) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  let s3Skipped: string | undefined;
  try {
    const env = readClusterEnv();
    const client = s3Client(env);
    const prefix = `bench/trainer-checkpoint/${randomBytes(4).toString("hex")}/`;
    try {
      results["s3"] = await measure(new S3CheckpointStore(client, env.S3_BUCKET, `${prefix}ckpt/`), {
        write: async (n, b) => {
          await client.putObject(env.S3_BUCKET, `${prefix}raw/${n}`, Buffer.from(b.buffer, b.byteOffset, b.byteLength), b.length);
        },
        read: async (n) => {
          const chunks: Buffer[] = [];
          for await (const c of await client.getObject(env.S3_BUCKET, `${prefix}raw/${n}`)) chunks.push(c as Buffer);
          return Buffer.concat(chunks);
        },
      });
    } finally {
      const keys: string[] = [];
      for await (const item of client.listObjectsV2(env.S3_BUCKET, prefix, true)) if (typeof item.name === "string") keys.push(item.name);
      if (keys.length > 0) await client.removeObjects(env.S3_BUCKET, keys);
    }
  } catch (err) {
    s3Skipped = (err as Error).message;
  }
  const rows = Object.entries(results).map(([where, f]) => ({
    where,
    MB: f.bytes / 1e6,
    "save blocks ms": f.blockingMs,
    "commit ms": f.commitMs,
    "raw write ms": f.rawWriteMs,
    "save/raw": f.commitMs / f.rawWriteMs,
    "restore ms": f.restoreMs,
    "raw read ms": f.rawReadMs,
    "restore/raw": f.restoreMs / f.rawReadMs,
  }));
  printTable(`Checkpoint of ${PARAMS / 1e6}M parameters (weights + AdamW m and v), median of ${REPEATS}${s3Skipped === undefined ? "" : ` (S3 skipped: ${s3Skipped})`}`, rows);
  const meets: Record<string, boolean> = {};
  for (const [where, f] of Object.entries(results)) {
    meets[`${where}SaveBlocksUnder${TARGET_BLOCKING_MS}ms`] = f.blockingMs < TARGET_BLOCKING_MS;
    meets[`${where}SaveAtLeastHalfRawThroughput`] = f.rawWriteMs / f.commitMs >= TARGET_RATIO;
  }
  printResult({ bench: "trainer-checkpoint", params: PARAMS, repeats: REPEATS, ...Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v])), ...(s3Skipped === undefined ? {} : { s3Skipped }), meets });
}

await main();
