// Resume state in the real Redis: the fenced commit script, stale writers, lost data, and a resume on a new world size.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DatasetWriter, FileStore, RedisResumeStore, StaleCommitError, TokenDataLoader, resolveResume, stateAt, type LoaderConfig, type ResumeState } from "@gantry/dataloader";
import { redisClient } from "../support/services.js";

const env = inject("cluster");
const redis = redisClient(env);
const run = randomBytes(4).toString("hex");
const uid = (name: string) => `dl-test-${run}-${name}`;
const stores: RedisResumeStore[] = [];
const open = (name: string, keep?: number) => {
  const s = new RedisResumeStore(redis, uid(name), keep);
  stores.push(s);
  return s;
};

const input = (jobUid: string, attempt: number) => ({ jobUid, attempt, fingerprint: "sha256:ff", seed: 1, samplesPerEpoch: 1000, globalBatch: 8, worldSize: 2, contextLength: 64, anchor: { step: 0, consumedSamples: 0 } });

beforeAll(async () => {
  await redis.connect();
});

afterAll(async () => {
  for (const s of stores) await s.clear();
  redis.disconnect();
});

describe("Redis resume store", () => {
  it("commits state per step under the documented keys and reads it back", async () => {
    const store = open("basic");
    const s10 = stateAt(10, input(store.jobUid, 0));
    expect(await store.commit(s10)).toEqual(s10);
    await store.commit(stateAt(20, input(store.jobUid, 0)));
    expect(await store.read(10)).toEqual(s10);
    expect((await store.read(20))?.consumedSamples).toBe(160);
    expect(await store.read(15)).toBeUndefined();
    expect(await store.head()).toEqual({ attempt: 0, step: 20 });
    expect(await redis.hget(`gantry:dataloader:{${store.jobUid}}:head`, "step")).toBe("20");
    expect(await redis.zrange(`gantry:dataloader:{${store.jobUid}}:steps`, 0, -1)).toEqual(["10", "20"]);
    expect(JSON.parse((await redis.hget(`gantry:dataloader:{${store.jobUid}}:states`, "10")) ?? "null")).toEqual(s10);
  });

  it("fences out a stale writer from an older attempt and drops its abandoned future", async () => {
    const store = open("fence");
    const old = (step: number) => stateAt(step, input(store.jobUid, 1));
    const next = (step: number) => stateAt(step, input(store.jobUid, 2));
    await store.commit(old(10));
    await store.commit(old(20));
    // Attempt 2 restores the checkpoint of step 10, claims the fence, and runs on.
    expect(await store.claim(2, 10)).toEqual({ attempt: 2, step: -1 });
    expect(await store.read(20)).toBeUndefined();
    const late = await store.commit(old(30)).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(StaleCommitError);
    expect((late as Error).message).toBe(`job ${store.jobUid}: commit of step 30 by attempt 1 is stale; attempt 2 already committed step -1`);
    await store.commit(next(11));
    expect(await store.read(20)).toBeUndefined();
    expect(await store.read(30)).toBeUndefined();
    expect((await store.read(10))?.attempt).toBe(1);
    expect((await store.read(11))?.attempt).toBe(2);
    // Within an attempt, steps only move forward; repeating the same commit is a no-op, not an error.
    await expect(store.commit(next(11))).resolves.toEqual(next(11));
    await expect(store.commit(next(5))).rejects.toThrow(StaleCommitError);
    await expect(store.commit({ ...next(11), consumedSamples: 1 })).rejects.toThrow(StaleCommitError);
    await expect(store.claim(1)).rejects.toThrow(StaleCommitError);
    expect(await store.head()).toEqual({ attempt: 2, step: 11 });
  });

  it("keeps the newest (attempt, step) when writers race", async () => {
    const store = open("race");
    const commits: ResumeState[] = [];
    for (let attempt = 0; attempt < 3; attempt++) for (let step = 1; step <= 30; step++) commits.push(stateAt(step, input(store.jobUid, attempt)));
    // Shuffle deterministically, then fire all at once.
    commits.sort((a, b) => ((a.step * 7919 + a.attempt * 104729) % 97) - ((b.step * 7919 + b.attempt * 104729) % 97));
    const results = await Promise.allSettled(commits.map((c) => store.commit(c)));
    expect(results.every((r) => r.status === "fulfilled" || r.reason instanceof StaleCommitError)).toBe(true);
    const head = await store.head();
    const accepted = commits.filter((_, i) => results[i]?.status === "fulfilled");
    const newest = accepted.reduce((a, b) => (b.attempt > a.attempt || (b.attempt === a.attempt && b.step > a.step) ? b : a));
    expect(head).toEqual({ attempt: newest.attempt, step: newest.step });
    expect((await store.read(newest.step))?.attempt).toBe(newest.attempt);
    // Nothing committed later than the head survives from another timeline.
    const steps = (await redis.zrange(store.keys.steps, 0, -1)).map(Number);
    expect(Math.max(...steps)).toBe(newest.step);
  });

  it("trims old steps to the newest `keep`", async () => {
    const store = open("trim", 3);
    for (let step = 1; step <= 6; step++) await store.commit(stateAt(step, input(store.jobUid, 0)));
    expect(await redis.zrange(store.keys.steps, 0, -1)).toEqual(["4", "5", "6"]);
    expect(await redis.hkeys(store.keys.states)).toEqual(expect.arrayContaining(["4", "5", "6"]));
    expect((await redis.hkeys(store.keys.states)).length).toBe(3);
  });
});

describe("exact resume through Redis", () => {
  const dir = mkdtempSync(join(tmpdir(), "dl-resume-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("resumes on a new world size from Redis, and from the checkpoint's copy when Redis lost it", async () => {
    const files = new FileStore(dir);
    const writer = new DatasetWriter(files, { tokenizer: "gpt2", dtype: "uint16", eosToken: 50256, shardBytes: 256 });
    for (let d = 0; d < 300; d++) await writer.add(Array.from({ length: 3 + (d % 17) }, (_, t) => (d * 37 + t) % 50000));
    const manifest = await writer.finish();
    const store = open("loader");
    const config = (attempt: number, rank: number, worldSize: number): LoaderConfig => ({
      jobUid: store.jobUid,
      attempt,
      contextLength: 16,
      globalBatch: 12,
      rank,
      worldSize,
      seed: 42,
      shuffle: true,
      windowShards: 3,
      cacheBytes: 1 << 20,
      prefetchSteps: 1,
    });
    const ref = new TokenDataLoader(files, manifest, config(0, 0, 1));
    const reference: number[][][] = [];
    for (let step = 0; step < 30; step++) reference.push((await ref.batch(step)).samples.map((s) => Array.from(s.tokens)));

    // Attempt 0 on 2 ranks: checkpoints (and commits) at step 10, runs on to 14, then dies.
    const seen: number[][][] = [];
    const a0 = [0, 1].map((r) => new TokenDataLoader(files, manifest, config(0, r, 2)));
    let checkpointCopy: ResumeState | undefined;
    for (let step = 0; step < 14; step++) {
      const batches = await Promise.all(a0.map((l) => l.batch(step)));
      if (step < 10) seen.push(batches.flatMap((b) => b.samples.map((s) => Array.from(s.tokens))));
      if (step + 1 === 10) checkpointCopy = await store.commit(a0[0]?.stateAt(10) as ResumeState);
      if (step + 1 === 12) await store.commit(a0[0]?.stateAt(12) as ResumeState);
    }

    // Attempt 1 on 3 ranks restores the step-10 checkpoint.
    await store.claim(1, 10);
    expect(await store.read(12)).toBeUndefined();
    const d1 = resolveResume({ jobUid: store.jobUid, checkpointStep: 10, fromRedis: await store.read(10), fromCheckpoint: checkpointCopy, fingerprint: ref.fingerprint });
    expect(d1).toMatchObject({ kind: "resume", origin: "redis", state: { consumedSamples: 120, step: 10 } });
    if (d1.kind !== "resume") throw new Error("expected a resume");
    const a1 = [0, 1, 2].map((r) => new TokenDataLoader(files, manifest, config(1, r, 3), d1.state));
    for (let step = 10; step < 20; step++) seen.push((await Promise.all(a1.map((l) => l.batch(step)))).flatMap((b) => b.samples.map((s) => Array.from(s.tokens))));
    const at20 = await store.commit(a1[0]?.stateAt(20) as ResumeState);

    // Redis loses everything; attempt 2 on 4 ranks resumes from the copy in the step-20 checkpoint.
    await store.clear();
    const d2 = resolveResume({ jobUid: store.jobUid, checkpointStep: 20, fromRedis: await store.read(20), fromCheckpoint: at20, fingerprint: ref.fingerprint });
    expect(d2).toMatchObject({ kind: "resume", origin: "checkpoint", state: { consumedSamples: 240 } });
    if (d2.kind !== "resume") throw new Error("expected a resume");
    const a2 = [0, 1, 2, 3].map((r) => new TokenDataLoader(files, manifest, config(2, r, 4), d2.state));
    for (let step = 20; step < 30; step++) seen.push((await Promise.all(a2.map((l) => l.batch(step)))).flatMap((b) => b.samples.map((s) => Array.from(s.tokens))));

    expect(seen).toEqual(reference);
  });
});
