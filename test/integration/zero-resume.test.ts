// ZeRO through the whole rank program (trainer/src/main.ts, 2 ranks on loopback meeting through the real Redis):
// a ZeRO-3 + full recomputation run checkpoints per-rank shards, survives a SIGKILL after a checkpoint, and ends
// bitwise equal to its uninterrupted twin and to plain DP (one micro-batch per rank: the same reduction order).
import { existsSync, readdirSync } from "node:fs";
import { describe, expect, inject, it } from "vitest";
import { EXIT } from "@gantry/crds";
import { CheckpointReader, FileCheckpointStore, type NamedArray } from "@gantry/trainer";
import { latestStep, manifestPath, stepDir } from "../support/checkpoint-files.js";
import { exited, trainerTestbed, type TrainerRun } from "../support/trainer-process.js";
import { waitFor } from "../support/wait.js";

const env = inject("cluster");
// Long enough that the SIGKILL after the step-4 checkpoint always lands before the last step (ZeRO-3 steps of this
// model take tens of milliseconds).
const STEPS = 16;
const bed = trainerTestbed(env, "gantry-zero-", 80);

const spec = (zeroStage: number, gradientCheckpointing: string) => ({
  workers: 1,
  model: { preset: "tiny", layers: 2, dModel: 32, heads: 2, contextLength: 16, dropout: 0.1 },
  data: { source: bed.source, format: "tokens", tokenizer: "bytes" },
  training: { steps: STEPS, globalBatchSize: 4, microBatchSize: 2, logEverySteps: 1, seed: 7, optimizer: { lr: 0.01 }, schedule: { warmupSteps: 2 } },
  parallelism: { zeroStage, gradientCheckpointing },
  checkpointing: { everySteps: 2, keepLast: 10 },
});

const newRun = (name: string, s: ReturnType<typeof spec>): TrainerRun => bed.trainers.run(name, 2, s);

const bytesOf = (arrays: readonly NamedArray[]): Buffer => Buffer.concat(arrays.map((a) => Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)));

async function final(run: TrainerRun) {
  const c = await new CheckpointReader(new FileCheckpointStore(run.ckpt)).load(STEPS);
  return { weights: bytesOf(c.weights), optimizer: bytesOf(c.optimizer), manifest: c.manifest };
}

describe("ZeRO-3 with full recomputation, 2 ranks", () => {
  it("checkpoints shards, resumes bitwise after a SIGKILL, and equals plain DP", async () => {
    const dp = newRun("dp", spec(0, "none"));
    const straight = newRun("zero3", spec(3, "full"));
    await Promise.all([bed.trainers.finish(dp, 0), bed.trainers.finish(straight, 0)]);
    const [want, plain] = [await final(straight), await final(dp)];
    expect(want.manifest.sharding?.zeroStage).toBe(3);
    // Rank 0's shard is listed by its own manifest; rank 1's comes with the receipt rank 0 waited for.
    expect(readdirSync(stepDir(straight.ckpt, STEPS)).filter((f) => f.startsWith("optimizer")).sort()).toEqual([
      "optimizer-rank-00000-of-00002.safetensors",
      "optimizer-rank-00001-of-00002.json",
      "optimizer-rank-00001-of-00002.safetensors",
    ]);
    expect(want.weights.equals(plain.weights), "ZeRO-3 weights = plain DP weights").toBe(true);
    expect(want.optimizer.equals(plain.optimizer), "ZeRO-3 moments = plain DP moments").toBe(true);

    const killed = newRun("zero3-killed", spec(3, "full"));
    const ranks = bed.trainers.start(killed, 0);
    const ends = ranks.map(exited);
    await waitFor("the step-4 checkpoint", () => existsSync(manifestPath(killed.ckpt, 4)), (x) => x, { timeoutMs: 120_000, intervalMs: 20 });
    for (const r of ranks) r.kill("SIGKILL");
    // Both ranks died of the signal, before the last step was committed: the resume has work to do.
    // Each rank was killed, or (racing its own kill) saw its peer vanish and exited retryable; rank 0 was killed.
    const killedExits = await Promise.all(ends);
    expect(killedExits[0]?.signal, killedExits[0]?.output).toBe("SIGKILL");
    for (const k of killedExits) expect(k.signal === "SIGKILL" || k.code === EXIT.retryable, k.output).toBe(true);
    expect(latestStep(killed.ckpt)).toBeLessThan(STEPS);
    await bed.trainers.finish(killed, 1);
    const got = await final(killed);
    expect(got.weights.equals(want.weights), "resumed weights").toBe(true);
    expect(got.optimizer.equals(want.optimizer), "resumed moments").toBe(true);
  });
});
