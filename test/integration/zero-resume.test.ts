// ZeRO through the whole rank program (trainer/src/main.ts, 2 ranks on loopback meeting through the real Redis):
// a ZeRO-3 + full recomputation run checkpoints per-rank shards, survives a SIGKILL after a checkpoint, and ends
// bitwise equal to its uninterrupted twin and to plain DP (one micro-batch per rank: the same reduction order).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { EXIT, POD_ENV } from "@gantry/crds";
import { openStore, prepareDataset, tokenizerFor } from "@gantry/dataloader";
import { CheckpointReader, FileCheckpointStore, type NamedArray } from "@gantry/trainer";
import { REPO_ROOT } from "../support/cluster-env.js";
import { writeCorpus } from "../support/corpus.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const STEPS = 6;
let dir: string;
let data: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gantry-zero-"));
  const text = join(dir, "text");
  mkdirSync(text);
  const files = writeCorpus(text, 80);
  data = join(dir, "data");
  mkdirSync(data);
  await prepareDataset(openStore(pathToFileURL(data).href), { files, format: "text", textField: "text", tokenizer: tokenizerFor("bytes"), shardBytes: 8192 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spec = (zeroStage: number, gradientCheckpointing: string) => ({
  workers: 1,
  model: { preset: "tiny", layers: 2, dModel: 32, heads: 2, contextLength: 16, dropout: 0.1 },
  data: { source: pathToFileURL(data).href, format: "tokens", tokenizer: "bytes" },
  training: { steps: STEPS, globalBatchSize: 4, microBatchSize: 2, logEverySteps: 1, seed: 7, optimizer: { lr: 0.01 }, schedule: { warmupSteps: 2 } },
  parallelism: { zeroStage, gradientCheckpointing },
  checkpointing: { everySteps: 2, keepLast: 10 },
});

interface Run {
  name: string;
  uid: string;
  ckpt: string;
  spec: ReturnType<typeof spec>;
}
const newRun = (name: string, s: ReturnType<typeof spec>): Run => ({ name, uid: `${name}-${Date.now()}`, ckpt: join(dir, name, "ckpt"), spec: s });

function startAttempt(run: Run, attempt: number): ChildProcess[] {
  return [0, 1].map((rank) =>
    spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "trainer", "src", "main.ts")], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env["PATH"],
        GANTRY_LOG_LEVEL: "warn",
        GANTRY_TERMINATION_LOG: join(dir, `${run.name}-${attempt}-${rank}.termination`),
        [POD_ENV.jobName]: run.name,
        [POD_ENV.jobNamespace]: "test",
        [POD_ENV.jobUid]: run.uid,
        [POD_ENV.attempt]: String(attempt),
        [POD_ENV.worldSize]: "2",
        [POD_ENV.rankBase]: String(rank),
        [POD_ENV.podIp]: "127.0.0.1",
        [POD_ENV.masterPort]: "0",
        [POD_ENV.checkpointUri]: pathToFileURL(run.ckpt).href,
        [POD_ENV.redisUrl]: env.REDIS_URL,
        [POD_ENV.spec]: JSON.stringify(run.spec),
      },
    }),
  );
}

function exited(p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  let output = "";
  p.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  p.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => p.on("exit", (code, signal) => resolve({ code, signal, output })));
}

async function attemptToEnd(run: Run, attempt: number) {
  const results = await Promise.all(startAttempt(run, attempt).map(exited));
  for (const r of results) expect(r.code, r.output).toBe(EXIT.success);
}

const stepDir = (run: Run, step: number) => join(run.ckpt, `step-${String(step).padStart(8, "0")}`);
const bytesOf = (arrays: readonly NamedArray[]): Buffer => Buffer.concat(arrays.map((a) => Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)));

async function final(run: Run) {
  const c = await new CheckpointReader(new FileCheckpointStore(run.ckpt)).load(STEPS);
  return { weights: bytesOf(c.weights), optimizer: bytesOf(c.optimizer), manifest: c.manifest };
}

describe("ZeRO-3 with full recomputation, 2 ranks", () => {
  it("checkpoints shards, resumes bitwise after a SIGKILL, and equals plain DP", async () => {
    const dp = newRun("dp", spec(0, "none"));
    const straight = newRun("zero3", spec(3, "full"));
    await Promise.all([attemptToEnd(dp, 0), attemptToEnd(straight, 0)]);
    const [want, plain] = [await final(straight), await final(dp)];
    expect(want.manifest.sharding?.zeroStage).toBe(3);
    // Rank 0's shard is listed by its own manifest; rank 1's comes with the receipt rank 0 waited for.
    expect(readdirSync(stepDir(straight, STEPS)).filter((f) => f.startsWith("optimizer")).sort()).toEqual([
      "optimizer-rank-00000-of-00002.safetensors",
      "optimizer-rank-00001-of-00002.json",
      "optimizer-rank-00001-of-00002.safetensors",
    ]);
    expect(want.weights.equals(plain.weights), "ZeRO-3 weights = plain DP weights").toBe(true);
    expect(want.optimizer.equals(plain.optimizer), "ZeRO-3 moments = plain DP moments").toBe(true);

    const killed = newRun("zero3-killed", spec(3, "full"));
    const ranks = startAttempt(killed, 0);
    const ends = ranks.map(exited);
    await waitFor("the step-4 checkpoint", () => existsSync(join(stepDir(killed, 4), "manifest.json")), (x) => x, { timeoutMs: 120_000, intervalMs: 20 });
    for (const r of ranks) r.kill("SIGKILL");
    await Promise.all(ends);
    await attemptToEnd(killed, 1);
    const got = await final(killed);
    expect(got.weights.equals(want.weights), "resumed weights").toBe(true);
    expect(got.optimizer.equals(want.optimizer), "resumed moments").toBe(true);
  });
});
