// Raw-text streaming against the real S3 server, through a proxy that answers 503 SlowDown, stalls and drops
// connections mid-body: the samples equal those read from a local copy (nothing lost, nothing repeated), and a
// merged per-rank state committed to Redis resumes every rank exactly.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { FileStore, RedisResumeStore, S3Store, TextStreamLoader, createS3Client, mergeRankStates, type ObjectStore, type TextLoaderConfig } from "@gantry/dataloader";
import { redisClient, s3Client } from "../support/services.js";

const env = inject("cluster");
const s3 = s3Client(env);
const redis = redisClient(env);
const prefix = `dl-stream-test/${randomBytes(6).toString("hex")}/`;
const dir = mkdtempSync(join(tmpdir(), "dl-stream-it-"));
const jobUid = `dl-stream-${randomBytes(4).toString("hex")}`;
let proxy: Server;
let port = 0;
let gets = 0;
const faults: Record<string, number> = { slowdown: 0, stall: 0, reset: 0 };

beforeAll(async () => {
  await redis.connect();
  for (let f = 0; f < 5; f++) {
    const body = `${Array.from({ length: 120 }, (_, d) => JSON.stringify({ text: `file ${f} record ${d} ${"some words here ".repeat(1 + ((f + d) % 9))}` })).join("\n")}\n`;
    const [name, bytes] = f === 4 ? [`part-${f}.jsonl.gz`, gzipSync(body)] : [`part-${f}.jsonl`, Buffer.from(body)];
    writeFileSync(join(dir, name), bytes);
    await s3.putObject(env.S3_BUCKET, `${prefix}${name}`, bytes);
  }
  const target = new URL(env.S3_ENDPOINT);
  // Every 3rd ranged GET of a part is faulted, in turn: 503 SlowDown, a stall past the idle timeout, a reset mid-body.
  proxy = createServer((req, res) => {
    const isGet = req.method === "GET" && req.url?.includes("part-") === true && req.headers.range !== undefined;
    const kind = isGet && ++gets % 3 === 0 ? (["slowdown", "stall", "reset"] as const)[(gets / 3) % 3] : undefined;
    if (kind !== undefined) faults[kind] = (faults[kind] ?? 0) + 1;
    if (kind === "slowdown") {
      res.writeHead(503, { "content-type": "application/xml" });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Reduce your rate.</Message></Error>');
      return;
    }
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes: IncomingMessage) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (kind === undefined) {
        upRes.pipe(res);
        return;
      }
      upRes.once("data", (chunk: Buffer) => {
        upRes.destroy();
        // Half of the first chunk, then silence (stall) or a dropped connection (reset).
        res.write(chunk.subarray(0, Math.max(1, chunk.length >> 1)), () => {
          if (kind === "reset") res.socket?.destroy();
          else setTimeout(() => res.socket?.destroy(), 5000).unref();
        });
      });
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  port = (proxy.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => proxy.close(resolve));
  await new RedisResumeStore(redis, jobUid).clear();
  redis.disconnect();
  const keys: string[] = [];
  for await (const item of s3.listObjectsV2(env.S3_BUCKET, prefix, true)) if (typeof item.name === "string") keys.push(item.name);
  if (keys.length > 0) await s3.removeObjects(env.S3_BUCKET, keys);
  rmSync(dir, { recursive: true, force: true });
});

const cfg = (rank: number, attempt = 0): TextLoaderConfig => ({
  jobUid,
  attempt,
  contextLength: 32,
  globalBatch: 8,
  rank,
  worldSize: 2,
  seed: 11,
  shuffle: true,
  tokenizer: "gpt2",
  prefetchBytes: 1 << 20,
  chunkBytes: 2048,
  readAhead: 2,
  tokenizerThreads: 1,
});

async function read(store: ObjectStore, rank: number, from: number, to: number, resume?: Parameters<typeof TextStreamLoader.open>[2], attempt = 0) {
  const l = await TextStreamLoader.open([{ name: "web", store, format: "jsonl" }], cfg(rank, attempt), resume);
  const out: number[][] = [];
  const states = new Map<number, ReturnType<TextStreamLoader["stateAt"]>>();
  for (let step = from; step < to; step++) {
    out.push(...(await l.batch(step)).samples.map((s) => Array.from(s.tokens)));
    states.set(step + 1, l.stateAt(step + 1));
  }
  await l.close();
  return { out, states };
}

describe("raw-text streaming from S3", () => {
  it("loses and repeats nothing through 503s, stalls and resets, and resumes every rank from a merged Redis state", async () => {
    const faulty = new S3Store(createS3Client({ endpoint: `http://127.0.0.1:${port}`, accessKey: env.S3_ACCESS_KEY, secretKey: env.S3_SECRET_KEY, region: env.S3_REGION, pathStyle: true }), env.S3_BUCKET, prefix, {
      policy: { retries: 8, baseDelayMs: 1, maxDelayMs: 5, idleTimeoutMs: 300 },
    });
    const local = new FileStore(dir);
    const steps = 40;
    const reference = await Promise.all([0, 1].map((r) => read(local, r, 0, steps)));
    const remote = await Promise.all([0, 1].map((r) => read(faulty, r, 0, steps)));
    expect(faults["slowdown"]).toBeGreaterThan(0);
    expect(faults["stall"]).toBeGreaterThan(0);
    expect(faults["reset"]).toBeGreaterThan(0);
    for (const r of [0, 1]) expect(remote[r]?.out).toEqual(reference[r]?.out);

    // Commit the merged step-17 state, lose the loaders, resume both ranks from what Redis hands back.
    const store = new RedisResumeStore(redis, jobUid);
    await store.claim(0);
    await store.commit(mergeRankStates([0, 1].map((r) => remote[r]?.states.get(17) as ReturnType<TextStreamLoader["stateAt"]>)));
    await store.claim(1, 17);
    const saved = await store.read(17);
    expect(saved?.cursors.map((c) => c.rank)).toEqual([0, 1]);
    const resumed = await Promise.all([0, 1].map((r) => read(faulty, r, 17, steps, saved, 1)));
    for (const r of [0, 1]) expect(resumed[r]?.out).toEqual(reference[r]?.out.slice(17 * 4));
  });
});
