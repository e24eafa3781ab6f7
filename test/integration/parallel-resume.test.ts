// Tensor × pipeline parallelism through the whole rank program (trainer/src/main.ts; ranks on loopback meeting through
// the real Redis): a TP 2 × PP 2 job on 4 ranks survives a SIGKILL and ends bitwise equal to its uninterrupted twin,
// dropout included; its checkpoints hold the whole model, so one saved at TP 2 × PP 2 resumes on a single rank and
// the reverse, each ending where a single rank's uninterrupted run ends (within float32 rounding, 2e-5; a constant
// learning rate, so a 4-step run's state is a 6-step run's at step 4); and a dead stage peer makes every other rank
// exit retryable instead of hanging.
import { cpSync, existsSync } from "node:fs";
import { describe, expect, inject, it } from "vitest";
import { EXIT } from "@gantry/crds";
import { CheckpointReader, FileCheckpointStore, type NamedArray } from "@gantry/trainer";
import { latestStep, manifestPath } from "../support/checkpoint-files.js";
import { exited, stepLogged, trainerTestbed, type TrainerRun } from "../support/trainer-process.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
const STEPS = 6;
// The killed run is long enough that the SIGKILL after its step-4 checkpoint always lands before the last step.
const KILL_STEPS = 12;
const bed = trainerTestbed(env, "gantry-3d-", 80);

const spec = (world: number, tp: number, pp: number, steps: number, dropout: number) => ({
  workers: world,
  model: { preset: "tiny", layers: 2, dModel: 32, heads: 2, contextLength: 16, dropout },
  data: { source: bed.source, format: "tokens", tokenizer: "bytes" },
  training: { steps, globalBatchSize: 8, microBatchSize: 2, logEverySteps: 1, seed: 7, optimizer: { lr: 0.01 }, schedule: { type: "constant", warmupSteps: 2 } },
  parallelism: { tensorParallel: tp, pipelineParallel: pp },
  checkpointing: { everySteps: 2, keepLast: 10 },
});

const bytesOf = (arrays: readonly NamedArray[]): Buffer => Buffer.concat(arrays.map((a) => Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)));

const load = (run: TrainerRun, step: number) => new CheckpointReader(new FileCheckpointStore(run.ckpt)).load(step);

function maxDiff(a: readonly NamedArray[], b: readonly NamedArray[]): number {
  expect(a.map((x) => `${x.name}[${x.shape.join(",")}]`)).toEqual(b.map((x) => `${x.name}[${x.shape.join(",")}]`));
  let d = 0;
  a.forEach((x, i) => x.data.forEach((v, j) => (d = Math.max(d, Math.abs(v - ((b[i] as NamedArray).data[j] as number))))));
  return d;
}

/** A run of `to` that starts from `from`'s checkpoints (the same job uid, so its data position resumes too). */
function continued(from: TrainerRun, name: string, s: ReturnType<typeof spec>): TrainerRun {
  const run = { ...bed.trainers.run(name, s.workers, s), uid: from.uid };
  cpSync(from.ckpt, run.ckpt, { recursive: true });
  return run;
}

describe("TP 2 × PP 2 on 4 ranks", () => {
  it("resumes bitwise after a SIGKILL, dropout included, and records its layout", async () => {
    const straight = bed.trainers.run("straight", 4, spec(4, 2, 2, KILL_STEPS, 0.1));
    await bed.trainers.finish(straight, 0);
    const want = await load(straight, KILL_STEPS);
    expect(want.manifest.extra?.["layout"]).toBe("1x2x2");
    expect(want.weights.find((w) => w.name === "wte")?.shape).toEqual([256, 32]);

    const killed = bed.trainers.run("killed", 4, spec(4, 2, 2, KILL_STEPS, 0.1));
    const ranks = bed.trainers.start(killed, 0);
    const ends = ranks.map(exited);
    await waitFor("the step-4 checkpoint", () => existsSync(manifestPath(killed.ckpt, 4)), (x) => x, { timeoutMs: 180_000, intervalMs: 20 });
    for (const r of ranks) r.kill("SIGKILL");
    for (const k of await Promise.all(ends)) expect(k.signal === "SIGKILL" || k.code === EXIT.retryable, k.output).toBe(true);
    expect(latestStep(killed.ckpt)).toBeLessThan(KILL_STEPS);
    await bed.trainers.finish(killed, 1);
    const got = await load(killed, KILL_STEPS);
    expect(bytesOf(got.weights).equals(bytesOf(want.weights)), "resumed weights").toBe(true);
    expect(bytesOf(got.optimizer).equals(bytesOf(want.optimizer)), "resumed moments").toBe(true);
  });

  it("re-shards on load: TP 2 × PP 2 → one rank and one rank → TP 2 × PP 2 both end where one rank's run ends", async () => {
    const single = bed.trainers.run("single", 1, spec(1, 1, 1, STEPS, 0));
    const split4 = bed.trainers.run("split-4", 4, spec(4, 2, 2, 4, 0));
    const single4 = bed.trainers.run("single-4", 1, spec(1, 1, 1, 4, 0));
    await Promise.all([bed.trainers.finish(single, 0), bed.trainers.finish(split4, 0), bed.trainers.finish(single4, 0)]);
    // The same step-4 model whichever layout trained it.
    expect(maxDiff((await load(split4, 4)).weights, (await load(single4, 4)).weights)).toBeLessThan(2e-5);
    const toSingle = continued(split4, "to-single", spec(1, 1, 1, STEPS, 0));
    const toSplit = continued(single4, "to-split", spec(4, 2, 2, STEPS, 0));
    await Promise.all([bed.trainers.finish(toSingle, 1), bed.trainers.finish(toSplit, 1)]);
    const want = await load(single, STEPS);
    for (const run of [toSingle, toSplit]) {
      const got = await load(run, STEPS);
      expect(maxDiff(got.weights, want.weights), run.name).toBeLessThan(2e-5);
      expect(maxDiff(got.optimizer.filter((a) => a.name.startsWith("m.")), want.optimizer.filter((a) => a.name.startsWith("m."))), run.name).toBeLessThan(2e-5);
    }
  });

  it("a dead stage peer makes every other rank exit retryable, without hanging", async () => {
    const run = bed.trainers.run("dead-peer", 4, spec(4, 2, 2, 200, 0));
    const ranks = bed.trainers.start(run, 0, { logLevel: "info" });
    const ends = ranks.map(exited);
    await stepLogged(ranks[0], 2);
    // Rank 2 is stage 1 of tensor rank 0 (Megatron order with dp = 1: rank = pp·tp + tp).
    ranks[2]?.kill("SIGKILL");
    const exits = await Promise.all(ends);
    expect(exits[2]?.signal).toBe("SIGKILL");
    for (const r of [0, 1, 3]) expect(exits[r]?.code, exits[r]?.output).toBe(EXIT.retryable);
  });
});
