// The dataloader against the real S3 server: datasets written and read through minio, ranged GETs in parallel parts,
// and retries that resume from the last byte through a proxy that throttles and drops connections.
import { randomBytes } from "node:crypto";
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Client as MinioClient } from "minio";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DatasetWriter, FileStore, ObjectReadError, S3Store, TokenDataLoader, createS3Client, manifestFromListing, openStore, readManifest, type LoaderConfig } from "@gantry/dataloader";
import { s3Client } from "../support/services.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = inject("cluster");
const s3 = s3Client(env);
const prefix = `dl-test/${randomBytes(6).toString("hex")}/`;
const noWait = { sleep: () => Promise.resolve(), random: () => 0 };

afterAll(async () => {
  const keys: string[] = [];
  for await (const item of s3.listObjectsV2(env.S3_BUCKET, prefix, true)) if (typeof item.name === "string") keys.push(item.name);
  if (keys.length > 0) await s3.removeObjects(env.S3_BUCKET, keys);
});

const config: LoaderConfig = { jobUid: "s3-job", attempt: 0, contextLength: 32, globalBatch: 8, rank: 0, worldSize: 1, seed: 5, shuffle: true, windowShards: 2, cacheBytes: 8 << 20, prefetchSteps: 2 };

async function writeDataset(store: S3Store | FileStore, docs: number[][]) {
  const w = new DatasetWriter(store, { tokenizer: "gpt2", dtype: "uint16", eosToken: 50256, shardBytes: 8000 });
  for (const d of docs) await w.add(d);
  return w.finish();
}

const docs = Array.from({ length: 400 }, (_, d) => Array.from({ length: 20 + ((d * 13) % 90) }, (_, t) => (d * 101 + t * 7) % 50257));

describe("S3 source", () => {
  const dir = mkdtempSync(join(tmpdir(), "dl-s3-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("writes a dataset, lists it, and serves the same batches as the local copy through small parallel parts", async () => {
    const store = openStore(`s3://${env.S3_BUCKET}/${prefix}corpus`, { client: s3, options: { partBytes: 4096, concurrency: 4 } });
    const manifest = await writeDataset(store as S3Store, docs);
    expect(manifest.shards.length).toBeGreaterThan(3);
    expect(await readManifest(store)).toEqual(manifest);
    const listed = [];
    for await (const o of store.list()) listed.push(o);
    expect(listed.map((o) => o.key).sort()).toEqual(["index.json", ...manifest.shards.flatMap((s) => [s.bin.path, s.idx.path])].sort());
    expect(listed.find((o) => o.key === manifest.shards[0]?.bin.path)?.bytes).toBe(manifest.shards[0]?.bin.bytes);
    // Without index.json, the paged listing rebuilds the same manifest.
    expect(await manifestFromListing(store, { tokenizer: "gpt2", eosToken: 50256 })).toEqual(manifest);

    const local = new FileStore(dir);
    expect(await writeDataset(local, docs)).toEqual(manifest);
    const remote = await TokenDataLoader.open(store, config);
    const reference = await TokenDataLoader.open(local, config);
    expect(remote.fingerprint).toBe(reference.fingerprint);
    for (let step = 0; step < 12; step++) {
      const [a, b] = await Promise.all([remote.batch(step), reference.batch(step)]);
      expect(a.samples.map((s) => Array.from(s.tokens))).toEqual(b.samples.map((s) => Array.from(s.tokens)));
    }
  });

  it("names the object and the cause when it does not exist", async () => {
    const store = new S3Store(s3, env.S3_BUCKET, `${prefix}nothing/`, { hooks: noWait });
    expect(await store.readIfExists("index.json")).toBeUndefined();
    const err = await store.readRange("shard-00000.bin", 0, 100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectReadError);
    expect((err as ObjectReadError).object).toBe(`s3://${env.S3_BUCKET}/${prefix}nothing/shard-00000.bin`);
    expect((err as Error).message).toMatch(/failed after 1 attempt\(s\): NoSuchKey/);
  });

  describe("through a faulty proxy", () => {
    const target = new URL(env.S3_ENDPOINT);
    const key = `${prefix}faulty/blob.bin`;
    const blob = Uint8Array.from(randomBytes(300_000));
    const seen: { range: string | undefined; fault: string }[] = [];
    // Faults applied to successive ranged GETs of the blob; "pass" once the script runs out.
    let faults: ("slowdown" | "reset" | "pass")[] = [];
    let proxy: Server;
    let client: MinioClient;

    beforeAll(async () => {
      await s3.putObject(env.S3_BUCKET, key, Buffer.from(blob));
      proxy = createServer((req, res) => {
        const isBlobGet = req.method === "GET" && req.url?.includes("blob.bin") === true;
        const fault = isBlobGet ? (faults.shift() ?? "pass") : "pass";
        if (isBlobGet) seen.push({ range: req.headers.range, fault });
        if (fault === "slowdown") {
          res.writeHead(503, { "content-type": "application/xml" });
          res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
          return;
        }
        const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes: IncomingMessage) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          if (fault !== "reset") {
            upRes.pipe(res);
            return;
          }
          // Send part of the body, then drop the connection once those bytes are flushed.
          let sent = 0;
          upRes.on("data", (chunk: Buffer) => {
            if (sent >= 10_000) return;
            const part = chunk.subarray(0, 10_000 - sent);
            sent += part.length;
            if (sent < 10_000) res.write(part);
            else {
              upRes.destroy();
              res.write(part, () => res.socket?.destroy());
            }
          });
        });
        req.pipe(up);
      });
      await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
      const port = (proxy.address() as AddressInfo).port;
      client = createS3Client({ endpoint: `http://127.0.0.1:${port}`, accessKey: env.S3_ACCESS_KEY, secretKey: env.S3_SECRET_KEY, region: env.S3_REGION, pathStyle: true });
    });

    afterAll(async () => {
      await new Promise((resolve) => proxy.close(resolve));
    });

    it("retries SlowDown and resets, resuming each from the last byte received", async () => {
      seen.length = 0;
      faults = ["slowdown", "reset", "reset", "pass"];
      const retries: { offset: number; cause: string }[] = [];
      const store = new S3Store(client, env.S3_BUCKET, `${prefix}faulty/`, {
        partBytes: 1 << 20,
        hooks: { ...noWait, onRetry: (r) => retries.push({ offset: r.offset, cause: (r.cause as { code?: string }).code ?? "" }) },
      });
      const out = await store.readRange("blob.bin", 1000, 250_000);
      expect(Buffer.from(out).equals(Buffer.from(blob.subarray(1000, 251_000)))).toBe(true);
      expect(seen).toEqual([
        { range: "bytes=1000-250999", fault: "slowdown" },
        { range: "bytes=1000-250999", fault: "reset" },
        { range: "bytes=11000-250999", fault: "reset" },
        { range: "bytes=21000-250999", fault: "pass" },
      ]);
      expect(retries.map((r) => r.offset)).toEqual([1000, 11_000, 21_000]);
      expect(retries[0]?.cause).toBe("SlowDown");
    });

    it("gives up after the retry budget with an error naming the object and the cause", async () => {
      seen.length = 0;
      faults = Array.from({ length: 10 }, () => "slowdown" as const);
      const store = new S3Store(client, env.S3_BUCKET, `${prefix}faulty/`, { policy: { retries: 2, baseDelayMs: 1, maxDelayMs: 1, idleTimeoutMs: 5000 }, hooks: noWait });
      const err = await store.readRange("blob.bin", 0, 1000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ObjectReadError);
      expect((err as Error).message).toBe(`reading s3://${env.S3_BUCKET}/${prefix}faulty/blob.bin failed after 3 attempt(s): SlowDown: HTTP 503 from the server`);
      expect(seen.length).toBe(3);
    });
  });
});
