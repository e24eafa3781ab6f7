// Gantry's promise, at the trainer's level: a run that is killed (SIGKILL after a checkpoint) or preempted (SIGTERM
// mid-run) and resumed ends with bitwise the same weights, optimizer state and per-step losses as a run that was
// never interrupted; on 1 rank and on 2 ranks meeting through the real Redis. And 2 ranks with half the batch each
// follow the 1-rank loss curve.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { EXIT } from "@gantry/crds";
import { latestStep, manifestPath, readLosses, readManifest } from "../support/checkpoint-files.js";
import { writeTokenDataset } from "../support/token-dataset.js";
import { TrainerProcesses, exited, stepLogged, type TrainerRun } from "../support/trainer-process.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const STEPS = 8;
let dir: string;
let data: string;
let trainers: TrainerProcesses;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gantry-resume-"));
  data = await writeTokenDataset(dir, 120);
  trainers = new TrainerProcesses(env, dir);
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

const newRun = (name: string, world: number, dropout = 0.1): TrainerRun => trainers.run(name, world, spec(dropout));

/** What must be bitwise equal: the final weights and optimizer state (by sha256) and every step's loss. */
function outcome(run: TrainerRun) {
  const manifest = readManifest(run.ckpt, STEPS);
  const history = readLosses(run.ckpt);
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
    await trainers.finish(run, 0);
    straight = outcome(run);
    expect(straight.losses.map((l) => l.step)).toEqual([...Array(STEPS).keys()]);
    expect(straight.validation.map((l) => l.step)).toEqual([3, 7]);
    expect(straight.validation[1]?.loss).toBeLessThan(straight.validation[0]?.loss ?? 0);
    expect(straight.consumed).toBe(STEPS * 4);
    for (const step of [2, 4, 6, 8]) expect(existsSync(manifestPath(run.ckpt, step))).toBe(true);
  });

  it("SIGKILL after the step-4 checkpoint, then a new attempt, gives bitwise the same run", async () => {
    const run = newRun(`killed-${world}`, world);
    const ranks = trainers.start(run, 0);
    const ends = ranks.map(exited);
    await waitFor("the step-4 checkpoint", () => existsSync(manifestPath(run.ckpt, 4)), (x) => x, { timeoutMs: 120_000, intervalMs: 20 });
    for (const r of ranks) r.kill("SIGKILL");
    const killed = await Promise.all(ends);
    expect(killed.some((k) => k.signal === "SIGKILL")).toBe(true);
    await trainers.finish(run, 1);
    expectSame(outcome(run), straight);
  });

  it("SIGTERM to rank 0 mid-run: every rank checkpoints the same step and exits preempted; the resume is bitwise the same", async () => {
    const run = newRun(`preempted-${world}`, world);
    const ranks = trainers.start(run, 0, { logLevel: "info" });
    const ends = ranks.map(exited);
    // Rank 0 logs every step at info: signal it once step 1 is done, so the stop lands mid-run.
    await stepLogged(ranks[0], 1);
    ranks[0]?.kill("SIGTERM");
    const stopped = await Promise.all(ends);
    // Each rank agreed to stop after the same step, which was checkpointed, and exited with the preempted code.
    for (const s of stopped) expect(s.code, s.output).toBe(EXIT.preempted);
    expect(latestStep(run.ckpt)).toBeLessThan(STEPS);
    await trainers.finish(run, 1);
    expectSame(outcome(run), straight);
  });
});

describe("data parallelism", () => {
  // Without dropout: its masks are seeded per rank, so they differ between world sizes by design.
  it("2 ranks of micro-batch 2 follow the loss curve of 1 rank accumulating 2 micro-batches of 2", async () => {
    const runs = [newRun("dp-1", 1, 0), newRun("dp-2", 2, 0)];
    await Promise.all(runs.map((r) => trainers.finish(r, 0)));
    const [one, two] = runs.map(outcome) as [ReturnType<typeof outcome>, ReturnType<typeof outcome>];
    expect(two.losses).toHaveLength(one.losses.length);
    // Same global batch, same samples; only the order of float additions differs.
    for (const [i, l] of one.losses.entries()) expect(Math.abs(l.loss - (two.losses[i]?.loss ?? NaN))).toBeLessThan(2e-4);
  });
});
