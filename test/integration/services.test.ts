// Redis and the S3 server answer, with the settings tests and the dataloader rely on.
import { afterAll, describe, expect, inject, it } from "vitest";
import { redisClient, s3Client } from "../support/services.js";

const env = inject("cluster");
const redis = redisClient(env);

afterAll(() => {
  redis.disconnect();
});

describe("Redis", () => {
  it("stores and counts, with AOF on", async () => {
    await redis.connect();
    const key = `gantry:test:${Date.now()}`;
    await redis.set(key, "offset-41");
    expect(await redis.get(key)).toBe("offset-41");
    expect(await redis.incr(`${key}:n`)).toBe(1);
    expect(await redis.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
    await redis.del(key, `${key}:n`);
  });
});

describe("S3", () => {
  const s3 = s3Client(env);
  it("has the bucket and serves whole and ranged reads of what was written", async () => {
    expect(await s3.bucketExists(env.S3_BUCKET)).toBe(true);
    const body = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));
    const key = `test/${Date.now()}/shard-00000.bin`;
    await s3.putObject(env.S3_BUCKET, key, body, body.length);
    const read = async (stream: NodeJS.ReadableStream) => {
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(Buffer.from(c as Uint8Array));
      return Buffer.concat(chunks);
    };
    expect((await read(await s3.getObject(env.S3_BUCKET, key))).equals(body)).toBe(true);
    expect((await read(await s3.getPartialObject(env.S3_BUCKET, key, 1000, 500))).equals(body.subarray(1000, 1500))).toBe(true);
    const stat = await s3.statObject(env.S3_BUCKET, key);
    expect(stat.size).toBe(body.length);
    await s3.removeObject(env.S3_BUCKET, key);
  });
});
