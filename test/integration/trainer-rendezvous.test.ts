// Rendezvous through the real Redis: the documented key, its expiry, a ring formed from it, and the timeout that names
// the ranks that never registered.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { MemoryAddressBook, RedisAddressBook, RendezvousTimeoutError, connectCollective, rendezvous, type Collective } from "@gantry/trainer";
import { redisClient } from "../support/services.js";

const env = inject("cluster");
const redis = redisClient(env);
const uid = `trainer-rdzv-${randomBytes(4).toString("hex")}`;

beforeAll(async () => {
  await redis.connect();
});
afterAll(async () => {
  const keys = await redis.keys(`gantry:trainer:{${uid}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe("rendezvous through Redis", () => {
  it("registers each rank under gantry:trainer:{uid}:attempt:peers with an expiry and forms a working ring", async () => {
    const n = 3;
    const collectives: Collective[] = await Promise.all(
      Array.from({ length: n }, (_, rank) => connectCollective({ rank, worldSize: n, book: new RedisAddressBook(redis, uid, 2, 600), advertiseHost: "127.0.0.1", rendezvousTimeoutMs: 10_000 })),
    );
    const key = `gantry:trainer:{${uid}}:2:peers`;
    const entries = await redis.hgetall(key);
    expect(Object.keys(entries).sort()).toEqual(["0", "1", "2"]);
    for (const address of Object.values(entries)) expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(new Set(Object.values(entries)).size).toBe(3);
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600);

    const parts = collectives.map((c) => Float32Array.from({ length: 10 }, (_, i) => c.rank * 100 + i));
    await Promise.all(collectives.map((c, r) => c.allReduceSum([parts[r] as Float32Array])));
    for (const p of parts) expect(Array.from(p)).toEqual(Array.from({ length: 10 }, (_, i) => 300 + 3 * i));
    await Promise.all(collectives.map((c) => c.close()));
  });

  it("keeps attempts apart: an older attempt's addresses are not the new attempt's", async () => {
    await new RedisAddressBook(redis, uid, 4).register(1, "10.0.0.9:1234");
    const book = new RedisAddressBook(redis, uid, 5);
    const err = await rendezvous({ book, rank: 0, worldSize: 2, address: { host: "127.0.0.1", port: 4000 }, timeoutMs: 300, pollMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RendezvousTimeoutError);
    expect((err as RendezvousTimeoutError).missing).toEqual([1]);
  });

  it("times out naming the missing ranks when not all of the world registers", async () => {
    const book = (attempt: number) => new RedisAddressBook(redis, uid, attempt);
    const waiting = [0, 2].map((rank) => rendezvous({ book: book(7), rank, worldSize: 4, address: { host: "127.0.0.1", port: 5000 + rank }, timeoutMs: 500, pollMs: 50 }).catch((e: unknown) => e));
    const errors = await Promise.all(waiting);
    for (const err of errors) {
      expect(err).toBeInstanceOf(RendezvousTimeoutError);
      expect((err as Error).message).toBe(`rendezvous job ${uid} attempt 7 timed out after 500 ms: 2 of 4 ranks registered; missing ranks 1, 3`);
      expect((err as RendezvousTimeoutError).exitCode).toBe(75);
    }
    // The memory book, used by the unit tests, behaves the same.
    expect(await rendezvous({ book: new MemoryAddressBook(), rank: 0, worldSize: 1, address: { host: "::1", port: 9 } })).toEqual([{ host: "::1", port: 9 }]);
  });
});
