// A Redis restart during training loses no committed resume state, and the fence still holds afterwards. The test
// runs its own redis-server (AOF, fsync on every write) on a free port and its own folder, never the shared one.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisResumeStore, StaleCommitError, stateAt, type ResumeState } from "@gantry/dataloader";

const REDIS_SERVER = "/usr/bin/redis-server";
const dir = mkdtempSync(join(tmpdir(), "dl-redis-restart-"));
let port = 0;
let server: ChildProcess | undefined;
let redis: Redis;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      s.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Starts redis-server on `port` with its data in `dir`, and resolves once it accepts connections. */
function startRedis(): Promise<ChildProcess> {
  const child = spawn(REDIS_SERVER, ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no"], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let log = "";
    const onData = (b: Buffer) => {
      log += b.toString();
      if (log.includes("Ready to accept connections")) resolve(child);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`redis-server exited with ${code} before it was ready:\n${log}`)));
  });
}

/** SIGTERM, as a node drain or a rolling update sends it; resolves when the process has exited. */
function stopRedis(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once("exit", (code) => resolve(code));
    child.kill("SIGTERM");
  });
}

const uid = `dl-restart-${randomBytes(4).toString("hex")}`;
const input = (attempt: number) => ({ jobUid: uid, attempt, fingerprint: "sha256:ab", seed: 9, samplesPerEpoch: 10_000, globalBatch: 16, worldSize: 4, contextLength: 128, anchor: { step: 0, consumedSamples: 0 } });

beforeAll(async () => {
  if (!existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} is missing: make setup installs it`);
  port = await freePort();
  server = await startRedis();
  // ioredis reconnects on its own and queues commands while the server is away, as the trainer's client would.
  redis = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(n * 50, 500) });
  await redis.connect();
});

afterAll(async () => {
  redis.disconnect();
  if (server !== undefined) await stopRedis(server);
  rmSync(dir, { recursive: true, force: true });
});

describe("resume state across a Redis restart", () => {
  it("keeps every committed state, the head and the fence; a commit sent while Redis was down lands after it is back", async () => {
    const store = new RedisResumeStore(redis, uid);
    const committed = new Map<number, ResumeState>();
    const commit = async (step: number, attempt: number) => committed.set(step, await store.commit(stateAt(step, input(attempt))));
    // Attempt 1 trains and checkpoints every 10 steps, then is preempted; attempt 2 resumes from step 30.
    for (const step of [10, 20, 30, 40, 50]) await commit(step, 1);
    await store.claim(2, 30);
    committed.delete(40);
    committed.delete(50);
    await commit(35, 2);
    await commit(45, 2);
    const keysBefore = (await redis.keys(`gantry:dataloader:{${uid}}:*`)).sort();

    if (server === undefined) throw new Error("redis-server did not start");
    expect(await stopRedis(server)).toBe(0);
    // While Redis is down the trainer commits step 55: the client holds the command and sends it on reconnect.
    const inFlight = store.commit(stateAt(55, input(2)));
    server = await startRedis();
    committed.set(55, await inFlight);

    // Everything committed is there, byte for byte, under the same keys; the abandoned future stays gone.
    expect((await redis.keys(`gantry:dataloader:{${uid}}:*`)).sort()).toEqual(keysBefore);
    for (const [step, state] of committed) expect(await store.read(step)).toEqual(state);
    expect(await store.read(40)).toBeUndefined();
    expect(await store.read(50)).toBeUndefined();
    expect(await store.head()).toEqual({ attempt: 2, step: 55 });
    expect(await redis.zrange(store.keys.steps, 0, -1)).toEqual(["10", "20", "30", "35", "45", "55"]);

    // The fence survived: attempt 1's late commit and a replay of an older step of attempt 2 are refused.
    const late = await store.commit(stateAt(60, input(1))).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(StaleCommitError);
    const replay = await store.commit(stateAt(50, input(2))).catch((e: unknown) => e);
    expect(replay).toBeInstanceOf(StaleCommitError);
    await expect(store.claim(1, 30)).rejects.toBeInstanceOf(StaleCommitError);
    // And the current attempt carries on.
    await commit(65, 2);
    expect(await store.head()).toEqual({ attempt: 2, step: 65 });
  });
});
