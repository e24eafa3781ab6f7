// Gantry's promise, at the trainer's level: a run that is killed (SIGKILL after a checkpoint) or preempted (SIGTERM
// mid-run) and resumed ends with bitwise the same weights, optimizer state and per-step losses as a run that was
// never interrupted; on 1 rank and on 2 ranks meeting through the real Redis. And 2 ranks with half the batch each
// follow the 1-rank loss curve.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { EXIT, POD_ENV } from "@gantry/crds";
import { openStore, prepareDataset, tokenizerFor } from "@gantry/dataloader";
import { REPO_ROOT } from "../support/cluster-env.js";
import { writeCorpus } from "../support/corpus.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const STEPS = 8;
let dir: string;
let data: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gantry-resume-"));
  const text = join(dir, "text");
  mkdirSync(text);
  const files = writeCorpus(text, 120);
  data = join(dir, "data");
  mkdirSync(data);
  await prepareDataset(openStore(pathToFileURL(data).href), { files, format: "text", textField: "text", tokenizer: tokenizerFor("bytes"), shardBytes: 8192 });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Dropout on, so resume must also reproduce its masks (counter-based seeds, no RNG state).
const spec = (dropout: number) => ({
  workers: 1,
  model: { preset: "tiny", layers: 1, dModel: 32, heads: 2, contextLength: 16, dropout },
  // Validation on the same shards: enough to check that evaluations are exact across a resume too.
  data: { source: pathToFileURL(data).href, format: "tokens", tokenizer: "bytes", validation: { source: pathToFileURL(data).href, everySteps: 4, batches: 2 } },
  training: { steps: STEPS, globalBatchSize: 4, microBatchSize: 2, logEverySteps: 1, seed: 7, optimizer: { lr: 0.01 }, schedule: { warmupSteps: 2 } },
  checkpointing: { everySteps: 2, keepLast: 10 },
});

interface Run {
  name: string;
  uid: string;
  world: number;
  ckpt: string;
  dropout: number;
}

const newRun = (name: string, world: number, dropout = 0.1): Run => ({ name, uid: `${name}-${Date.now()}`, world, ckpt: join(dir, name, "ckpt"), dropout });

/** Starts every rank of one attempt as the operator would: the pod environment contract, on loopback. */
function startAttempt(run: Run, attempt: number, logLevel = "warn"): ChildProcess[] {
  return Array.from({ length: run.world }, (_, rank) =>
    spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "trainer", "src", "main.ts")], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env["PATH"],
        GANTRY_LOG_LEVEL: logLevel,
        GANTRY_TERMINATION_LOG: join(dir, `${run.name}-${attempt}-${rank}.termination`),
        [POD_ENV.jobName]: run.name,
        [POD_ENV.jobNamespace]: "test",
        [POD_ENV.jobUid]: run.uid,
        [POD_ENV.attempt]: String(attempt),
        [POD_ENV.worldSize]: String(run.world),
        [POD_ENV.rankBase]: String(rank),
        [POD_ENV.podIp]: "127.0.0.1",
        [POD_ENV.masterPort]: "0",
        [POD_ENV.checkpointUri]: pathToFileURL(run.ckpt).href,
        [POD_ENV.redisUrl]: env.REDIS_URL,
        [POD_ENV.spec]: JSON.stringify(spec(run.dropout)),
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

const manifestPath = (run: Run, step: number) => join(run.ckpt, `step-${String(step).padStart(8, "0")}`, "manifest.json");

/** What must be bitwise equal: the final weights and optimizer state (by sha256) and every step's loss. */
function outcome(run: Run) {
  const manifest = JSON.parse(readFileSync(manifestPath(run, STEPS), "utf8")) as { files: Record<string, { sha256: string }>; step: number; dataState: { consumedSamples: number } };
  const history = JSON.parse(readFileSync(join(run.ckpt, "losses.json"), "utf8")) as { train: { step: number; loss: number }[]; validation: { step: number; loss: number }[] };
  return { model: manifest.files["model.safetensors"]?.sha256, optimizer: manifest.files["optimizer.safetensors"]?.sha256, consumed: manifest.dataState.consumedSamples, losses: history.train, validation: history.validation };
}

function expectSame(got: ReturnType<typeof outcome>, want: ReturnType<typeof outcome>) {
  expect(got.losses, "per-step losses").toEqual(want.losses);
  expect(got.validation, "validation losses").toEqual(want.validation);
  expect(got.consumed, "samples consumed").toBe(want.consumed);
  expect(got.model, "model.safetensors sha256").toBe(want.model);
  expect(got.optimizer, "optimizer.safetensors sha256").toBe(want.optimizer);
}

describe.each([1, 2])("exact resume with %i rank(s)", (world) => {
  let straight: ReturnType<typeof outcome>;

  it("an uninterrupted run trains and checkpoints every 2 steps", async () => {
    const run = newRun(`straight-${world}`, world);
    await attemptToEnd(run, 0);
    straight = outcome(run);
    expect(straight.losses.map((l) => l.step)).toEqual([...Array(STEPS).keys()]);
    expect(straight.validation.map((l) => l.step)).toEqual([3, 7]);
    expect(straight.validation[1]?.loss).toBeLessThan(straight.validation[0]?.loss ?? 0);
    expect(straight.consumed).toBe(STEPS * 4);
    for (const step of [2, 4, 6, 8]) expect(existsSync(manifestPath(run, step))).toBe(true);
  });

  it("SIGKILL after the step-4 checkpoint, then a new attempt, gives bitwise the same run", async () => {
    const run = newRun(`killed-${world}`, world);
    const ranks = startAttempt(run, 0);
    const ends = ranks.map(exited);
    await waitFor("the step-4 checkpoint", () => existsSync(manifestPath(run, 4)), (x) => x, { timeoutMs: 120_000, intervalMs: 20 });
    for (const r of ranks) r.kill("SIGKILL");
    const killed = await Promise.all(ends);
    expect(killed.some((k) => k.signal === "SIGKILL")).toBe(true);
    await attemptToEnd(run, 1);
    expectSame(outcome(run), straight);
  });

  it("SIGTERM to rank 0 mid-run: every rank checkpoints the same step and exits preempted; the resume is bitwise the same", async () => {
    const run = newRun(`preempted-${world}`, world);
    const ranks = startAttempt(run, 0, "info");
    const ends = ranks.map(exited);
    // Rank 0 logs every step at info: signal it once step 1 is done, so the stop lands mid-run.
    await new Promise<void>((resolve) => ranks[0]?.stdout?.on("data", (d: Buffer) => /"message":"step".*"step":1\b/.test(d.toString()) && resolve()));
    ranks[0]?.kill("SIGTERM");
    const stopped = await Promise.all(ends);
    // Each rank agreed to stop after the same step, which was checkpointed, and exited with the preempted code.
    for (const s of stopped) expect(s.code, s.output).toBe(EXIT.preempted);
    const latest = readFileSync(join(run.ckpt, "latest"), "utf8").trim();
    expect(Number(latest.replace("step-", ""))).toBeLessThan(STEPS);
    await attemptToEnd(run, 1);
    expectSame(outcome(run), straight);
  });
});

describe("data parallelism", () => {
  // Without dropout: its masks are seeded per rank, so they differ between world sizes by design.
  it("2 ranks of micro-batch 2 follow the loss curve of 1 rank accumulating 2 micro-batches of 2", async () => {
    const runs = [newRun("dp-1", 1, 0), newRun("dp-2", 2, 0)];
    await Promise.all(runs.map((r) => attemptToEnd(r, 0)));
    const [one, two] = runs.map(outcome) as [ReturnType<typeof outcome>, ReturnType<typeof outcome>];
    expect(two.losses).toHaveLength(one.losses.length);
    // Same global batch, same samples; only the order of float additions differs.
    for (const [i, l] of one.losses.entries()) expect(Math.abs(l.loss - (two.losses[i]?.loss ?? NaN))).toBeLessThan(2e-4);
  });
});
